-- CreateTable
CREATE TABLE "Deal" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "clientId" TEXT NOT NULL,
    "idempotencyKey" TEXT,
    "name" TEXT,
    "spec" TEXT NOT NULL,
    "state" TEXT NOT NULL,
    "stateReason" TEXT,
    "sizeBytes" BIGINT NOT NULL,
    "replicas" INTEGER NOT NULL,
    "periods" INTEGER NOT NULL,
    "periodsReleased" INTEGER NOT NULL DEFAULT 0,
    "hostIds" TEXT NOT NULL DEFAULT '[]',
    "deposit" TEXT NOT NULL,
    "paidToHosts" TEXT NOT NULL DEFAULT '0',
    "commission" TEXT NOT NULL DEFAULT '0',
    "refunded" TEXT NOT NULL DEFAULT '0',
    "slashed" TEXT NOT NULL DEFAULT '0',
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL,
    "endsAt" DATETIME,
    "finishedAt" DATETIME
);

-- CreateIndex
CREATE INDEX "Deal_clientId_createdAt_idx" ON "Deal"("clientId", "createdAt");

-- CreateIndex
CREATE UNIQUE INDEX "Deal_clientId_idempotencyKey_key" ON "Deal"("clientId", "idempotencyKey");

