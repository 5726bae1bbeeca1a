-- AlterTable
ALTER TABLE "Job" ADD COLUMN "sealedLogsSha256" TEXT;
ALTER TABLE "Job" ADD COLUMN "sealedOutputSha256" TEXT;

-- CreateTable
CREATE TABLE "Blob" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "sha256" TEXT NOT NULL,
    "owner" TEXT NOT NULL,
    "bytes" BIGINT NOT NULL,
    "scope" TEXT NOT NULL DEFAULT '',
    "jobId" TEXT,
    "dealId" TEXT,
    "kind" TEXT NOT NULL,
    "plaintextSha256" TEXT,
    "endedAt" DATETIME,
    "retained" BOOLEAN NOT NULL DEFAULT false,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- CreateIndex
CREATE INDEX "Blob_owner_idx" ON "Blob"("owner");

-- CreateIndex
CREATE INDEX "Blob_sha256_idx" ON "Blob"("sha256");

-- CreateIndex
CREATE INDEX "Blob_jobId_idx" ON "Blob"("jobId");

-- CreateIndex
CREATE INDEX "Blob_dealId_idx" ON "Blob"("dealId");

-- CreateIndex
CREATE INDEX "Blob_endedAt_idx" ON "Blob"("endedAt");

-- CreateIndex
CREATE UNIQUE INDEX "Blob_sha256_owner_scope_key" ON "Blob"("sha256", "owner", "scope");

