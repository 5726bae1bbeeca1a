-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateTable
CREATE TABLE "Job" (
    "id" TEXT NOT NULL,
    "clientId" TEXT NOT NULL,
    "idempotencyKey" TEXT,
    "image" TEXT NOT NULL,
    "spec" TEXT NOT NULL,
    "state" TEXT NOT NULL,
    "stateReason" TEXT,
    "hostId" TEXT,
    "exitCode" INTEGER,
    "timedOut" BOOLEAN NOT NULL DEFAULT false,
    "resultDigest" TEXT,
    "outputSha256" TEXT,
    "logsSha256" TEXT,
    "escrowAmount" TEXT NOT NULL,
    "paidToHosts" TEXT,
    "commission" TEXT,
    "refunded" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    "startedAt" TIMESTAMP(3),
    "finishedAt" TIMESTAMP(3),

    CONSTRAINT "Job_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Host" (
    "id" TEXT NOT NULL,
    "address" TEXT NOT NULL,
    "did" TEXT NOT NULL,
    "arch" TEXT NOT NULL,
    "cpus" DOUBLE PRECISION NOT NULL,
    "memoryMiB" INTEGER NOT NULL,
    "diskMiB" INTEGER NOT NULL,
    "gpus" INTEGER NOT NULL,
    "maxSlots" INTEGER NOT NULL,
    "pricePerCpuSecond" TEXT NOT NULL,
    "lastSeenAt" TIMESTAMP(3) NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Host_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "Job_clientId_createdAt_idx" ON "Job"("clientId", "createdAt");

-- CreateIndex
CREATE INDEX "Job_hostId_state_idx" ON "Job"("hostId", "state");

-- CreateIndex
CREATE UNIQUE INDEX "Job_clientId_idempotencyKey_key" ON "Job"("clientId", "idempotencyKey");

-- CreateIndex
CREATE UNIQUE INDEX "Host_address_key" ON "Host"("address");

