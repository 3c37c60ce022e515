-- The media type a request body arrived with (application/reports+json, text/plain, ...,
-- lower case, without parameters), so GET /v1/reports/{id}/raw answers with it. NULL for
-- bodies stored before, and for requests without a Content-Type: answered as
-- application/json. The reports of one body share it; the first request of a body decides.
-- The staging table and the commit that fill it are in sql/functions/30_store.sql.
ALTER TABLE raw_bodies ADD COLUMN media_type text;
