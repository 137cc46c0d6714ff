# Image for the api and worker services of docker-compose.yml (the same entry points as npm run dev).
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY config ./config
COPY db ./db
COPY domain ./domain
COPY activities ./activities
COPY workflows ./workflows
COPY worker ./worker
COPY api ./api
COPY org-templates ./org-templates
COPY tsconfig.json ./
USER node
CMD ["npx", "tsx", "api/main.ts"]
