-- Export files expire (radmark serve --export-retention): file_expired_at
-- is when a succeeded job's file was marked expired; its row stays, its
-- result still says what the file was. While a replica deletes the file it
-- holds the finished job's owner and lease_until (unused once a job has
-- finished), so a replica that stops mid-way leaves the deletion to
-- another once the lease runs out. Times are TEXT as in 00002.

-- +goose Up
ALTER TABLE job ADD COLUMN file_expired_at TEXT;

-- +goose Down
ALTER TABLE job DROP COLUMN file_expired_at;
