package cli

import (
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/tierdeploy/tier/deploy"
)

// progress shows each environment's rollout as it happens: on a terminal a
// block of lines redrawn in place, otherwise one plain line per change.
type progress struct {
	w     io.Writer
	tty   bool
	keys  []string
	line  map[string]string
	last  map[string]deploy.Phase
	drawn int
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w, line: map[string]string{}, last: map[string]deploy.Phase{}}
	under := w
	if sw, ok := w.(*syncWriter); ok {
		under = sw.w
	}
	if f, ok := under.(*os.File); ok && term.IsTerminal(int(f.Fd())) && os.Getenv("TERM") != "dumb" {
		p.tty = true
	}
	return p
}

// event takes one engine event; the engine sends every deployment queued,
// in plan order, before any starts.
func (p *progress) event(ev deploy.Event) {
	k := ev.Environment + "/" + ev.Service
	if ev.Phase == deploy.PhaseQueued {
		p.keys = append(p.keys, k)
		p.line[k] = "queued"
		return
	}
	text := string(ev.Phase)
	switch {
	case ev.Phase == deploy.PhaseDone:
		text = string(ev.Outcome)
		if ev.Message != "" {
			text += ": " + ev.Message
		}
	case ev.Message != "":
		text += " (" + ev.Message + ")"
	}
	text = fmt.Sprintf("%-10s %5.1fs", strings.SplitN(text, "\n", 2)[0], ev.Elapsed.Seconds())
	p.line[k] = text
	if p.tty {
		p.redraw()
		return
	}
	if p.last[k] == ev.Phase && ev.Phase == deploy.PhaseWaiting {
		return
	}
	p.last[k] = ev.Phase
	fmt.Fprintf(p.w, "%s: %s\n", k, text)
}

func (p *progress) redraw() {
	// One write, so that a log line cannot land inside the block.
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.drawn)
	}
	width := 0
	for _, k := range p.keys {
		width = max(width, len(k))
	}
	for _, k := range p.keys {
		fmt.Fprintf(&b, "\x1b[2K%-*s  %s\n", width, k, p.line[k])
	}
	p.drawn = len(p.keys)
	io.WriteString(p.w, b.String())
}
