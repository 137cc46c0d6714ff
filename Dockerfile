# Image of the api and worker services in docker-compose.yml: the same entry points as `npm run dev`
# (npx tsx api/main.ts, npx tsx worker/main.ts), run from source by tsx like the dev stack does.
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
# Dependencies first, so a source change does not reinstall them. tsx is a runtime dependency.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
# Sources (.dockerignore keeps tests, local state, secrets and node_modules out).
COPY . .
USER node
EXPOSE 8080
CMD ["npx", "tsx", "api/main.ts"]
