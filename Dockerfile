# Image of the api and worker services (docker-compose.yml), built from the compiled code:
#   build stage:   every dependency, `npm run build` → dist/ (compiled JS, db/migrations, the workflow
#                  code bundled once into dist/workflow-bundle.js)
#   runtime stage: Node 22 LTS, production dependencies only, git (for `!external` templates), dist/
#                  and the on-disk org templates, run as the unprivileged `node` user.
# One image, two programs:
#   api     node dist/api/main.js      (the default command; listens on API_HOST:API_PORT, 8080)
#   worker  node dist/worker/main.js   (loads the pre-built bundle: no webpack at start)
# The HEALTHCHECK serves both (scripts/healthcheck.ts reads which one PID 1 runs): the api's /healthz,
# the worker's WORKER_HEALTH_FILE. Build: docker build --build-arg GIT_SHA=$(git rev-parse HEAD) -t orchestrator .
ARG NODE_IMAGE=node:22-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Dependencies first, so a source change does not reinstall them. `npm ci` refuses a lock file out of
# step with package.json.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
# Sources (.dockerignore keeps tests, benchmarks, local state, secrets and node_modules out).
COPY . .
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
# git: `!external` org templates are fetched with it (activities/template-git). ca-certificates: its
# https remotes. tini (as PID 1, also what `init: true` gives) reaps git's children and forwards signals.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates tini \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/cache/orchestrator && chown node:node /var/cache/orchestrator
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY org-templates ./org-templates
ARG GIT_SHA=dev
# GIT_SHA: what GET /buildinfo reports. TEMPLATE_CACHE_DIR: the `!external` cache, where the node user
# may write (mount a volume on /var/cache/orchestrator to keep it). WORKER_HEALTH_FILE: see HEALTHCHECK.
ENV GIT_SHA=${GIT_SHA} \
    TEMPLATES_ROOT=/app/org-templates \
    TEMPLATE_CACHE_DIR=/var/cache/orchestrator/template-cache \
    WORKER_HEALTH_FILE=/tmp/worker-health
USER node
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 CMD ["node", "dist/scripts/healthcheck.js"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/api/main.js"]
