# One image for every payrail role: `docker run payrail:local api` (or gateway, relay, worker,
# acquirer, migrate, topics ensure, …). The compose files in deploy/compose/ run it per role.
#
# Stage 1 installs the production dependencies only (npm ci --omit=dev). It uses the full
# Debian image because better-sqlite3 is a native addon: its prebuilt binary is downloaded when
# one matches, and otherwise it is compiled, which needs python3, make and g++ (present here,
# absent from the slim image).
FROM node:24-bookworm AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error

# The dashboard's build (web/ -> web/dist) with the dev dependencies (Vite), from the same
# lockfile; only its output goes into the image.
FROM node:24-bookworm AS web
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY web ./web
# The app bundles the payment statuses from src/domain; its other imports of src/ are types only.
COPY src/domain ./src/domain
RUN node node_modules/vite/bin/vite.js build --config web/vite.config.ts

# Stage 2: the runtime, without compilers. Node 24 runs the TypeScript sources directly (type
# stripping), so there is no build step and src/ is what runs.
FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    LOG_FORMAT=json \
    HOST=0.0.0.0 \
    API_HOST=0.0.0.0 \
    ACQUIRER_HOST=0.0.0.0 \
    HEALTH_PORT=8080
WORKDIR /app
# package.json says "type": "module", which Node needs to load src/**/*.ts as ES modules.
COPY --chown=root:root package.json package-lock.json ./
COPY --from=dependencies --chown=root:root /app/node_modules ./node_modules
COPY --chown=root:root src ./src
# The built dashboard without its sources: `dashboard` and the gateway serve it as it is.
COPY --from=web --chown=root:root /app/web/dist ./web/dist
# The code is owned by root and read-only to the process; only data/ (the default SQLite file,
# an acquirer journal) is writable, by the unprivileged user of the Node image (uid 1000).
RUN mkdir -p /app/data && chown node:node /app/data
USER node
# Gateway, api, acquirer, relay metrics, worker metrics, dashboard (the defaults of their *_PORT variables).
EXPOSE 8080 8081 8090 9464 9465 5173
# Every role answers /readyz on its own port (the relay and the workers on their metrics port);
# HEALTH_PORT says which, since the image does not know the role it was started with. The
# compose files give each service its own check with the port of its role.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+process.env.HEALTH_PORT+'/readyz',{signal:AbortSignal.timeout(2500)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "src/cli/main.ts"]
CMD ["gateway"]
