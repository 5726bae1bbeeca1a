# The API and the orchestrator worker (one image, two commands), for docker-compose.yml:
#   docker build -t zansoc/app .
#   docker run zansoc/app node --require tsx/cjs api/main.ts
#   docker run zansoc/app node --require tsx/cjs orchestrator/main.ts
# Built FROM node:20-bookworm-slim, which must be pullable (it is not on our offline CI).
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
COPY prisma ./prisma
COPY scripts/prisma-schemas.ts ./scripts/prisma-schemas.ts
COPY prisma.config.ts tsconfig.json ./
RUN npm ci --omit=dev --no-audit --no-fund || npm ci --no-audit --no-fund
COPY . .
RUN npm run contracts:build
EXPOSE 3000 9464
CMD ["node", "--require", "tsx/cjs", "api/main.ts"]
