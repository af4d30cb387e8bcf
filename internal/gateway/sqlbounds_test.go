package gateway

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/serverlessplane/operator/internal/sqlwire"
)

// repeat is n bytes of c, made as they are read.
type repeat struct {
	c byte
	n int64
}

func (r *repeat) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	k := min(int64(len(p)), r.n)
	for i := range p[:k] {
		p[i] = r.c
	}
	r.n -= k
	return int(k), nil
}

// counting counts the bytes read through it.
type counting struct {
	r io.Reader
	n int64
}

func (c *counting) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func runAnswer(t *testing.T, answer io.Reader) (*statement, *counting) {
	t.Helper()
	s := &Server{}
	st := &statement{id: "s", done: make(chan struct{}), state: StateRunning}
	body := &counting{r: answer}
	fail := func(code, message string) {
		st.finish(StateFailed, &sqlwire.StatementError{ErrorCode: code, Message: message}, time.Time{})
	}
	s.readResultAt(context.Background(), st, body, fail, func() time.Time { return time.Time{} })
	return st, body
}

// An engine (a workspace's own image may be anything) that sends one frame of 300 MB: the
// gateway stops reading at its bound and never decodes the frame whole.
func TestReadResultBoundsOneHugeFrame(t *testing.T) {
	answer := io.MultiReader(strings.NewReader(`{"columns":[{"name":"x","type_name":"STRING","type_text":"VARCHAR","position":0}]}`+"\n"+`{"rows":[["`),
		&repeat{c: 'x', n: 300 << 20}, strings.NewReader(`"]]}`+"\n"+`{"end":{"row_count":1}}`+"\n"))
	st, read := runAnswer(t, answer)
	if st.state != StateFailed || !strings.Contains(st.err.Message, "INLINE limit") {
		t.Fatalf("state %s, error %v: want FAILED over the INLINE limit", st.state, st.err)
	}
	if read.n > maxAnswer+64<<10 {
		t.Fatalf("the gateway read %d MiB of the answer, past its bound of %d MiB", read.n>>20, maxAnswer>>20)
	}
}

// Millions of empty frames keep nothing: no chunk is kept for them.
func TestReadResultKeepsNoEmptyFrames(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"columns":[{"name":"x","type_name":"INT","type_text":"INTEGER","position":0}]}` + "\n")
	for range 100000 {
		b.WriteString(`{"rows":[]}` + "\n")
	}
	b.WriteString(`{"rows":[["1"]]}` + "\n" + `{"end":{"row_count":1}}` + "\n")
	st, _ := runAnswer(t, strings.NewReader(b.String()))
	if st.state != StateSucceeded || len(st.chunks) != 1 {
		t.Fatalf("state %s with %d chunks: want SUCCEEDED with the one chunk of rows", st.state, len(st.chunks))
	}
}

// Statement texts are charged to a budget until their statements end, and not kept after.
func TestStatementTextBudget(t *testing.T) {
	c := newSQLStore(Options{StatementCapacity: 10, StatementTextBytes: 100})
	if !c.admitText(60) || c.admitText(60) {
		t.Fatal("a budget of 100 bytes admitted 60 and then 60 more, or not the first 60")
	}
	st := &statement{id: "a", done: make(chan struct{}), state: StatePending, req: sqlwire.Request{Statement: strings.Repeat("x", 60)},
		released: func() { c.releaseText(60) }}
	st.finish(StateCanceled, nil, time.Time{})
	if st.req.Statement != "" {
		t.Error("an ended statement keeps its text")
	}
	if !c.admitText(60) {
		t.Error("the text of an ended statement still counts against the budget")
	}
	st.finish(StateFailed, nil, time.Time{}) // a second end releases nothing again
	if c.admitText(41) {
		t.Error("the budget was released twice")
	}
}
