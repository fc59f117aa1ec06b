-- Settings of a session, for the duration of one transaction.

-- name: statement_timeout_at_most
-- Lower this transaction's statement_timeout to :ms milliseconds; never raise it (the reader
-- role's own timeout stays the cap; 0, here or there, means none).
SELECT set_config('statement_timeout',
       CASE WHEN CAST(:ms AS bigint) > 0
             AND (current_setting('statement_timeout')::interval = interval '0'
                  OR current_setting('statement_timeout')::interval > CAST(:ms AS bigint) * interval '1 ms')
            THEN CAST(:ms AS bigint)::text
            ELSE current_setting('statement_timeout') END, true)
