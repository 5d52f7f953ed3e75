// Command ferretdb runs FerretDB v1 (the MongoDB wire protocol over SQLite) for the CRM.
//
// It embeds FerretDB's public `ferretdb` package rather than building FerretDB's own
// command: `go install` of that command panics at start without the version files its
// release build generates. The flags mirror FerretDB's own.
//
// FerretDB v1 runs a write as "query, then write the matching documents" without
// isolation, so two concurrent conditional updates can both match the same document
// and a findAndModify can hand one document to two callers. MongoDB makes every
// single-document write atomic, and the CRM's optimistic concurrency relies on it. The
// clients therefore talk to a small proxy (writeGate) that lets one write command at a
// time through to FerretDB, while reads pass freely: that gives FerretDB the
// single-document atomicity MongoDB has, and the CRM's code stays the same on both.
package main

import (
	"context"
	"flag"
	"log"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // profiles on --debug-addr
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	sqliteURL := flag.String("sqlite-url", "file:data/", "SQLite folder URL (one file per database)")
	listenAddr := flag.String("listen-addr", "127.0.0.1:27017", "TCP address to listen on")
	logLevel := flag.String("log-level", "warn", "debug, info, warn or error")
	handler := flag.String("handler", "sqlite", "backend: sqlite (or pg, with --postgresql-url)")
	postgresURL := flag.String("postgresql-url", "", "PostgreSQL URL for --handler=pg")
	// Accepted so that one command line serves this build and FerretDB's own release
	// binary alike; the embedded server keeps no state file and sends no telemetry.
	flag.String("state-dir", ".", "ignored")
	debugAddr := flag.String("debug-addr", "-", "TCP address of Go's profiles (/debug/pprof/); - for none")
	flag.String("telemetry", "disable", "ignored")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		log.Fatalf("bad --log-level: %v", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	server, err := ferretdb.New(&ferretdb.Config{
		Listener:      ferretdb.ListenerConfig{TCP: "127.0.0.1:0"}, // behind the gate only
		Logger:        logger,
		Handler:       *handler,
		SQLiteURL:     *sqliteURL,
		PostgreSQLURL: *postgresURL,
	})
	if err != nil {
		log.Fatal(err)
	}
	inner, err := url.Parse(server.MongoDBURI())
	if err != nil {
		log.Fatal(err)
	}
	listener, err := net.Listen("tcp", *listenAddr)
	if err != nil {
		log.Fatal(err)
	}

	if *debugAddr != "-" {
		go func() { logger.Warn("debug server stopped", "error", http.ListenAndServe(*debugAddr, nil)) }()
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	gate := newWriteGate(inner.Host, logger)
	go gate.serve(ctx, listener)
	if err := server.Run(ctx); err != nil {
		log.Fatal(err)
	}
}
