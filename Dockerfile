# The API, the orchestrator worker and the contract deployment (one image, three commands), for docker-compose.yml:
#   docker run zansoc/app node --require tsx/cjs api/main.ts
#   docker run zansoc/app node --require tsx/cjs orchestrator/main.ts
#   docker run zansoc/app node --require tsx/cjs contracts/deploy.ts
# Built offline by `npx tsx scripts/build-images.ts --stack`, on zansoc/node:20 (Zansoc's Debian base with the build
# machine's Node; deploy/images/node/Dockerfile). No registry is reached: the build context carries this clone's
# node_modules (as `npm ci` of scripts/setup made them), the production dependencies and solc, which the deployment
# compiles the contracts with.
FROM zansoc/node:20
COPY package.json tsconfig.json ./
COPY node_modules ./node_modules
COPY generated ./generated
COPY prisma ./prisma
COPY domain ./domain
COPY runtime ./runtime
COPY metrics ./metrics
COPY db ./db
COPY contracts ./contracts
COPY activities ./activities
COPY workflows ./workflows
COPY api ./api
COPY orchestrator ./orchestrator
RUN ["node", "--require", "tsx/cjs", "contracts/build.ts"]
EXPOSE 3000 9464
CMD ["node", "--require", "tsx/cjs", "api/main.ts"]
