// Added to FerretDB's SQLite backend by the CRM's build (crm/ferretdb.py). SQLite plans
// a query from statistics gathered by ANALYZE; without them it assumes that an equality
// on any index narrows to a few rows, so an index on a flag every document shares (such
// as `deleted`) looks as good as one on the owner, and a page sorted by one column sorts
// every row of the one owner who has them all. SQLite's own advice for long-lived
// connections is `PRAGMA optimize` now and then: it analyzes the tables never analyzed
// or whose size changed a lot since, and is a no-op otherwise (milliseconds).

package pool

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/FerretDB/FerretDB/internal/util/logging"
)

// statisticsEvery is how often each database's statistics are brought up to date.
const statisticsEvery = 30 * time.Second

// optimize is PRAGMA optimize checking every table's size (0x10000), not only the tables
// this connection used, with its default, per-table limited analysis (0x02).
const optimize = "PRAGMA optimize=0x10002"

// IndexBuilds is held by the registry while it builds indexes and records them: a PRAGMA
// optimize then would find a new index without statistics and ANALYZE its whole table,
// holding the write lock for minutes on a large one, and the registry's own write after
// the build waited past the busy timeout and failed (the index built, not recorded).
var IndexBuilds sync.RWMutex

// analyzeAtOpen brings the statistics up to date before the database is handed out: on
// the opener's own connection, while nobody else uses the file. (Run from a goroutine at
// open, it raced the creation of a new database's metadata table on another connection,
// which then failed with "database is locked".)
func analyzeAtOpen(db *sql.DB, l *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), statisticsEvery)
	defer cancel()

	if _, err := db.ExecContext(ctx, optimize); err != nil {
		l.Warn("sqlite.metadata.pool.analyzeAtOpen: PRAGMA optimize failed", logging.Error(err))
	}
}

// keepStatistics brings the statistics up to date now and then until the database is
// closed.
func keepStatistics(db *sql.DB, l *slog.Logger) {
	ticker := time.NewTicker(statisticsEvery)
	defer ticker.Stop()

	for range ticker.C {
		if !IndexBuilds.TryRLock() {
			continue // the registry analyzes what it builds
		}

		ctx, cancel := context.WithTimeout(context.Background(), statisticsEvery)
		_, err := db.ExecContext(ctx, optimize)
		cancel()
		IndexBuilds.RUnlock()

		if errors.Is(err, sql.ErrConnDone) || (err != nil && err.Error() == "sql: database is closed") {
			return
		}

		if err != nil {
			l.Warn("sqlite.metadata.pool.keepStatistics: PRAGMA optimize failed", logging.Error(err))
		}
	}
}
