package main

import (
	"fmt"
	"html"
	"math"
	"slices"
	"strings"
)

// svg draws the ratio columns of the table as horizontal bars on a log
// scale from 1/8 to 8 around 1 (parity): for each row, l4lb/HAProxy in
// blue, l4lb/nginx in green and l4lb/direct in grey. Bars are oriented so that right of the
// parity line is always better for l4lb, whichever way the metric runs
// (for lower-is-better metrics the bar shows the inverse ratio, and the
// label says so).
func (rep *report) svg() string {
	const (
		rowH   = 34
		labelW = 330
		plotW  = 520
		top    = 70
		maxLog = 3.0 // log2(8)
	)
	rows := slices.DeleteFunc(slices.Clone(rep.Rows), func(r row) bool { return r.Metric.loadgen })
	h := top + rowH*len(rows) + 50
	w := labelW + plotW + 120
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="10" y="20" font-size="15" font-weight="bold">l4lb vs HAProxy, nginx and direct (%s run, %s, %d rounds, medians)</text>`+"\n",
		html.EscapeString(rep.Plan.Mode), rep.Date.Format("2006-01-02 15:04 UTC"), rep.Plan.Rounds)
	fmt.Fprintf(&b, `<text x="10" y="38" fill="#444">right of 1× = l4lb better; for lower-is-better metrics the bar shows the inverse ratio (marked ⁻¹). Log scale, clipped at 8×.</text>`+"\n")
	fmt.Fprintf(&b, `<rect x="%d" y="46" width="12" height="10" fill="#2b6cb0"/><text x="%d" y="55">vs HAProxy</text>`, labelW, labelW+16)
	fmt.Fprintf(&b, `<rect x="%d" y="46" width="12" height="10" fill="#38a169"/><text x="%d" y="55">vs nginx</text>`, labelW+110, labelW+126)
	fmt.Fprintf(&b, `<rect x="%d" y="46" width="12" height="10" fill="#a0aec0"/><text x="%d" y="55">vs direct</text>`+"\n", labelW+210, labelW+226)
	x := func(r float64) float64 {
		l := math.Max(-maxLog, math.Min(maxLog, math.Log2(r)))
		return labelW + plotW/2 + l/maxLog*plotW/2
	}
	for i, r := range rows {
		y := float64(top + i*rowH)
		if i%2 == 0 {
			fmt.Fprintf(&b, `<rect x="0" y="%.0f" width="%d" height="%d" fill="#f7fafc"/>`+"\n", y, w, rowH)
		}
		label := r.Scenario + " · " + r.Metric.Label
		inv := ""
		if !r.Metric.Higher {
			inv = "⁻¹"
		}
		fmt.Fprintf(&b, `<text x="%d" y="%.0f" text-anchor="end">%s%s</text>`+"\n", labelW-10, y+rowH/2+4, html.EscapeString(label), inv)
		if r.VsHAProxy <= 0 && r.VsNginx <= 0 && r.VsDirect <= 0 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" fill="#c53030">no ratio: %s</text>`+"\n", x(1)+6, y+rowH/2+4, html.EscapeString(missing(r)))
		}
		for j, v := range []struct {
			ratio float64
			color string
		}{{r.VsHAProxy, "#2b6cb0"}, {r.VsNginx, "#38a169"}, {r.VsDirect, "#a0aec0"}} {
			if v.ratio <= 0 {
				continue
			}
			shown := v.ratio
			if !r.Metric.Higher {
				shown = 1 / v.ratio
			}
			x0, x1 := x(1), x(shown)
			if x1 < x0 {
				x0, x1 = x1, x0
			}
			by := y + 3 + float64(j)*10
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="8" fill="%s"><title>%s: %.2f</title></rect>`+"\n",
				x0, by, math.Max(x1-x0, 1), v.color, html.EscapeString(label), v.ratio)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="9" fill="#333">%.2f×</text>`+"\n", math.Max(x0, x1)+3, by+8, shown)
		}
	}
	bottom := top + rowH*len(rows)
	for _, t := range []float64{0.125, 0.25, 0.5, 1, 2, 4, 8} {
		xt := x(t)
		stroke, width := "#cbd5e0", 1
		if t == 1 {
			stroke, width = "#1a202c", 2
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="%d"/>`+"\n", xt, top-4, xt, bottom, stroke, width)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%g×</text>`+"\n", xt, bottom+16, t)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// missing says why a row has no ratio.
func missing(r row) string {
	c, ok := r.Cells[targetL4LB]
	switch {
	case !ok:
		return "l4lb not run"
	case c.N == 0:
		return fmt.Sprintf("l4lb invalid in all %d rounds", c.Invalid)
	}
	return "no HAProxy, nginx or direct figure"
}
