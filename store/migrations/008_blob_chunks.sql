-- Content larger than one chunk (store.BlobChunkBytes) is kept in chunks:
-- a blob row with data NULL and its bytes in blob_chunks, in seq order.
-- Written row by row with COPY, a 25 MB attachment costs the process one
-- chunk of memory instead of the copies a single bytea parameter takes
-- (pgx encodes it into its own buffer, then into the message it sends).
-- The blobs already stored keep their data where it is.
ALTER TABLE blobs ALTER COLUMN data DROP NOT NULL;

CREATE TABLE blob_chunks (
    sha256 bytea NOT NULL REFERENCES blobs(sha256) ON DELETE CASCADE,
    seq    integer NOT NULL CHECK (seq >= 0),
    data   bytea NOT NULL,
    PRIMARY KEY (sha256, seq)
);
