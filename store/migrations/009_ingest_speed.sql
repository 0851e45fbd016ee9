-- Ingest writes every mail's raw source and attachments as blobs. pglz,
-- the default, compresses them at a few tens of MB/s and made the blob
-- INSERT the costliest statement of a delivery; lz4 compresses mail about
-- as well at several times the speed. Values stored already keep pglz
-- (both are read transparently).
ALTER TABLE blobs ALTER COLUMN data SET COMPRESSION lz4;
