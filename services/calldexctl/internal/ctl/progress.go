package ctl

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progressBar draws one line on a terminal: what, a bar, done/total, rate
// and ETA. It draws nothing when the output is not a terminal, so scripts
// and tests see no control characters.
type progressBar struct {
	w     io.Writer
	label string
	unit  string
	on    bool

	mu       sync.Mutex
	start    time.Time
	lastDraw time.Time
	drawn    bool
	done     int64
	total    int64
	now      func() time.Time
}

// progress starts a bar labelled label counting unit ("events", "bytes").
func (a *app) progress(label, unit string) *progressBar {
	return &progressBar{w: a.io.Stderr, label: label, unit: unit, on: a.io.Progress, start: time.Now(), now: time.Now}
}

// Update sets how far the work is; total 0 means unknown. It redraws at
// most ten times a second.
func (p *progressBar) Update(done, total int64) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done, p.total = done, total
	if now := p.now(); now.Sub(p.lastDraw) >= 100*time.Millisecond {
		p.lastDraw = now
		p.draw()
	}
}

// Finish draws the final state and ends the line.
func (p *progressBar) Finish() {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.drawn {
		return
	}
	p.draw()
	fmt.Fprintln(p.w)
	p.drawn = false
}

func (p *progressBar) draw() {
	p.drawn = true
	fmt.Fprint(p.w, "\r\033[K"+p.line())
}

// line renders the bar, e.g.
// "rebuild acme [=========>          ]  45%  4,500/10,000 events  1,234/s  ETA 4s".
func (p *progressBar) line() string {
	elapsed := p.now().Sub(p.start)
	var rate float64
	if elapsed > 0 {
		rate = float64(p.done) / elapsed.Seconds()
	}
	var b strings.Builder
	b.WriteString(p.label)
	if p.total > 0 {
		const width = 24
		frac := min(float64(p.done)/float64(p.total), 1)
		filled := int(frac * width)
		b.WriteString(" [")
		b.WriteString(strings.Repeat("=", filled))
		if filled < width {
			b.WriteString(">")
			b.WriteString(strings.Repeat(" ", width-filled-1))
		}
		fmt.Fprintf(&b, "] %3.0f%%  %s/%s %s", frac*100, count(p.done), count(p.total), p.unit)
	} else {
		fmt.Fprintf(&b, "  %s %s", count(p.done), p.unit)
	}
	fmt.Fprintf(&b, "  %s/s", count(int64(rate)))
	if p.total > 0 && rate > 0 && p.done < p.total {
		eta := time.Duration(float64(p.total-p.done) / rate * float64(time.Second))
		fmt.Fprintf(&b, "  ETA %s", eta.Round(time.Second))
	}
	return b.String()
}

// count writes n with thousands separators.
func count(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// bytesHuman writes a byte count as B, KiB, MiB…
func bytesHuman(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
