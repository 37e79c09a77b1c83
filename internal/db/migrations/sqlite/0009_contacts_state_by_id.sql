-- +goose Up
-- contacts_state served the open and closed files reports a mission's files
-- of one state already in contact id order. Loading a file then inserted
-- every contact into a second index keyed by its contact id (besides
-- contacts_ref), away from the end of the index: a fifth of a bulk load's
-- cost in the database. Keyed by the row id instead, it grows at its end
-- as contacts are loaded; a report still reads only its mission's files of
-- that state, and sorts them by contact id (an id prefix is a range on
-- contacts_ref, as before).
DROP INDEX contacts_state;
CREATE INDEX contacts_state ON contacts (mission, state, id);

-- +goose Down
DROP INDEX contacts_state;
CREATE INDEX contacts_state ON contacts (mission, state, contact_id);
