import { createContext } from 'preact'
import { useContext } from 'preact/hooks'
import type { ApiClient } from './api.ts'
import type { SessionSecrets } from './session.ts'

export interface AppServices {
  api: ApiClient
  secrets: SessionSecrets
}

export const Services = createContext<AppServices | undefined>(undefined)

export function useServices(): AppServices {
  const services = useContext(Services)
  if (services === undefined) throw new Error('useServices outside <Services.Provider>')
  return services
}
