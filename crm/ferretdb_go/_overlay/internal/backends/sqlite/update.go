// Added to FerretDB's SQLite backend by the CRM's build (crm/ferretdb.py): UpdateAll writes
// the documents of one update command with one statement per hundred.

package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/FerretDB/FerretDB/internal/backends/sqlite/metadata"
	"github.com/FerretDB/FerretDB/internal/handler/sjson"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/fsql"
	"github.com/FerretDB/FerretDB/internal/util/lazyerrors"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

// updateChunk documents are written by one statement (three parameters each).
const updateChunk = 100

// updateDocuments writes each of docs over the row with its _id, one UPDATE per
// updateChunk documents: modernc's driver parses a statement again on every exec, and
// an UPDATE's parse cost as much as its write. The rows are found by the _id index (an
// IN list, as a find by `_id: {$in: ...}`), each given its document by a CASE on its
// _id. (An UPDATE ... FROM (VALUES ...) was planned as a scan of the table once its
// statistics were stale.) Returns the rows written.
func updateDocuments(ctx context.Context, tx *fsql.Tx, table string, docs []*types.Document) (int32, error) {
	var updated int32

	for len(docs) > 0 {
		chunk := docs[:min(updateChunk, len(docs))]
		docs = docs[len(chunk):]

		ids := make([]any, len(chunk))
		args := make([]any, 0, 3*len(chunk))

		for i, doc := range chunk {
			b, err := sjson.Marshal(doc)
			if err != nil {
				return updated, lazyerrors.Error(err)
			}

			id, _ := doc.Get("_id")
			must.NotBeZero(id)

			ids[i] = string(must.NotFail(sjson.MarshalSingleValue(id)))
			args = append(args, ids[i], string(b))
		}

		args = append(args, ids...)
		q := fmt.Sprintf(`UPDATE %q SET %s = CASE %s%s END WHERE %s IN (?%s)`,
			table, metadata.DefaultColumn, metadata.IDColumn,
			strings.Repeat(" WHEN ? THEN ?", len(chunk)), metadata.IDColumn,
			strings.Repeat(", ?", len(chunk)-1))

		r, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return updated, lazyerrors.Error(err)
		}

		ra, err := r.RowsAffected()
		if err != nil {
			return updated, lazyerrors.Error(err)
		}

		updated += int32(ra)
	}

	return updated, nil
}
