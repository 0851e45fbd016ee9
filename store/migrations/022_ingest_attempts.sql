-- A mail the process dies on (killed out of memory, a fatal runtime error
-- that no recover catches) must not be fetched and attempted forever: the
-- worker's count of a mail's failures lives in memory and starts over with
-- every process. Before it stores a batch, or one mail, the worker records
-- the attempt here; an attempt that ends with an error it saw is deleted,
-- and one that succeeds is left behind by the cursor. So an attempt found
-- begun and never ended, under the same UIDVALIDITY, covering the same
-- UIDs, is a process that stopped inside it: a batch found so is stored
-- one mail at a time, and a mail found so twice is quarantined unread
-- (ingest.MaxCrashes). One row per mailbox and kind (batch or one mail).
CREATE TABLE ingest_attempts (
    mailbox      text NOT NULL,
    batch        boolean NOT NULL,
    uid_validity bigint NOT NULL,
    first_uid    bigint NOT NULL,
    last_uid     bigint NOT NULL,
    crashes      integer NOT NULL,
    begun_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (mailbox, batch)
);
