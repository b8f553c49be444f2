import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyServerOptions,
  LogController,
} from 'fastify'
import type { Logger } from './logger.ts'

export interface RoleServerOptions {
  logger: Logger
  /** One log line per request and response. Default: false (metrics count requests). */
  requestLogging?: boolean
  /** Largest request body accepted, in bytes. Default: 16 KiB, far above any payrail request. */
  bodyLimit?: number
  /** Extra Fastify options for the role. */
  fastify?: Omit<FastifyServerOptions, 'loggerInstance' | 'logController' | 'bodyLimit'>
}

/** The Fastify instance every HTTP role starts from, so they log and limit bodies alike. */
export function createRoleServer(options: RoleServerOptions): FastifyInstance {
  return Fastify({
    ...options.fastify,
    loggerInstance: options.logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: !(options.requestLogging ?? false) }),
    bodyLimit: options.bodyLimit ?? 16 * 1024,
  }) as unknown as FastifyInstance
}
