package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
)

const (
	opMsg       = 2013
	moreToCome  = 1 << 1
	maxMessage  = 48 * 1024 * 1024
	headerBytes = 16
)

// Commands that change data or schema: one at a time (see main.go for why).
var writeCommands = map[string]bool{
	"insert": true, "update": true, "delete": true, "findAndModify": true,
	"findandmodify": true, "create": true, "createIndexes": true, "drop": true,
	"dropIndexes": true, "dropDatabase": true, "renameCollection": true,
}

type writeGate struct {
	upstream string
	logger   *slog.Logger
	writes   sync.Mutex
}

func newWriteGate(upstream string, logger *slog.Logger) *writeGate {
	return &writeGate{upstream: upstream, logger: logger}
}

func (g *writeGate) serve(ctx context.Context, listener net.Listener) {
	go func() {
		<-ctx.Done()
		listener.Close()
	}()
	for {
		client, err := listener.Accept()
		if err != nil {
			if ctx.Err() == nil {
				g.logger.Error("accept failed", "error", err)
			}
			return
		}
		go g.relay(client)
	}
}

// relay carries one client connection. Requests and replies alternate on a MongoDB
// connection; a request that holds the write lock releases it once its last reply
// (the one without moreToCome) has gone back to the client.
func (g *writeGate) relay(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", g.upstream)
	if err != nil {
		g.logger.Error("upstream dial failed", "error", err)
		return
	}
	defer server.Close()

	held := make(chan bool, 64) // per awaited reply: does it hold the write lock?
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			reply, err := readMessage(server)
			if err == nil {
				_, err = client.Write(reply)
			}
			if err != nil {
				client.Close()
				return
			}
			if !hasMoreToCome(reply) {
				select {
				case locked := <-held:
					if locked {
						g.writes.Unlock()
					}
				default:
				}
			}
		}
	}()

	for {
		request, err := readMessage(client)
		if err != nil {
			break
		}
		write := isWrite(request)
		if write {
			g.writes.Lock()
		}
		awaitsReply := !hasMoreToCome(request)
		if awaitsReply {
			held <- write
		}
		if _, err := server.Write(request); err != nil {
			if write && !awaitsReply {
				g.writes.Unlock()
			}
			break
		}
		if write && !awaitsReply {
			g.writes.Unlock()
		}
	}
	server.Close()
	<-done
	for { // replies that will never come: give back their locks
		select {
		case locked := <-held:
			if locked {
				g.writes.Unlock()
			}
		default:
			return
		}
	}
}

func readMessage(r io.Reader) ([]byte, error) {
	header := make([]byte, headerBytes)
	if _, err := io.ReadFull(r, header); err != nil {
		return nil, err
	}
	length := int(int32(binary.LittleEndian.Uint32(header)))
	if length < headerBytes || length > maxMessage {
		return nil, errors.New("bad message length")
	}
	message := make([]byte, length)
	copy(message, header)
	if _, err := io.ReadFull(r, message[headerBytes:]); err != nil {
		return nil, err
	}
	return message, nil
}

func opCode(message []byte) int32 {
	return int32(binary.LittleEndian.Uint32(message[12:16]))
}

func hasMoreToCome(message []byte) bool {
	return opCode(message) == opMsg && len(message) >= 20 &&
		binary.LittleEndian.Uint32(message[16:20])&moreToCome != 0
}

// isWrite reads the command name: the first key of an OP_MSG's body section.
func isWrite(message []byte) bool {
	if opCode(message) != opMsg || len(message) < 26 || message[20] != 0 { // kind 0: body
		return false
	}
	element := message[25:] // body document: 4-byte length, then type byte, then name
	end := bytes.IndexByte(element[1:], 0)
	if end < 0 {
		return false
	}
	return writeCommands[string(element[1:1+end])]
}
