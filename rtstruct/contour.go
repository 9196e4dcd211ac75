package rtstruct

import (
	"fmt"
	"math"
	"sort"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/volume"
)

// Image coordinates here are the SCOORD convention radmark uses for 2D
// items: x = column, y = row, (0,0) the top-left corner of the top-left
// pixel, so pixel (i, j) covers [i, i+1] × [j, j+1] and its centre is
// (i+0.5, j+0.5).

// Trace returns the boundaries of the nonzero pixels of a cols×rows mask
// as closed polygons running along pixel edges (no repeated closing
// vertex, collinear vertices dropped). Outer boundaries run clockwise on
// the screen (rows down), holes the other way; pixels touching only at a
// corner get separate polygons. Filling the polygons even-odd at pixel
// centres (Fill) gives back exactly the mask.
func Trace(mask []byte, cols, rows int) [][][2]float64 {
	in := func(i, j int) bool { return i >= 0 && j >= 0 && i < cols && j < rows && mask[j*cols+i] != 0 }
	type edge struct{ x0, y0, x1, y1 int }
	var edges []edge
	from := map[int][]int{} // start vertex → edges
	key := func(x, y int) int { return y*(cols+1) + x }
	add := func(x0, y0, x1, y1 int) {
		from[key(x0, y0)] = append(from[key(x0, y0)], len(edges))
		edges = append(edges, edge{x0, y0, x1, y1})
	}
	for j := 0; j < rows; j++ {
		for i := 0; i < cols; i++ {
			if !in(i, j) {
				continue
			}
			if !in(i, j-1) {
				add(i, j, i+1, j)
			}
			if !in(i+1, j) {
				add(i+1, j, i+1, j+1)
			}
			if !in(i, j+1) {
				add(i+1, j+1, i, j+1)
			}
			if !in(i-1, j) {
				add(i, j+1, i, j)
			}
		}
	}
	used := make([]bool, len(edges))
	var out [][][2]float64
	for start := range edges {
		if used[start] {
			continue
		}
		var loop [][2]int
		e := start
		for {
			used[e] = true
			ed := edges[e]
			loop = append(loop, [2]int{ed.x0, ed.y0})
			dx, dy := ed.x1-ed.x0, ed.y1-ed.y0
			next := -1
			for _, c := range from[key(ed.x1, ed.y1)] {
				if used[c] && c != start {
					continue
				}
				cx, cy := edges[c].x1-edges[c].x0, edges[c].y1-edges[c].y0
				if next < 0 || (cx == -dy && cy == dx) { // at a corner touch, turn right
					next = c
				}
			}
			if next < 0 || next == start {
				break
			}
			e = next
		}
		out = append(out, simplify(loop))
	}
	return out
}

// simplify drops the vertices where a loop goes straight on.
func simplify(loop [][2]int) [][2]float64 {
	n := len(loop)
	var out [][2]float64
	for k := range loop {
		p, c, q := loop[(k+n-1)%n], loop[k], loop[(k+1)%n]
		if (c[0]-p[0])*(q[1]-c[1])-(c[1]-p[1])*(q[0]-c[0]) == 0 {
			continue
		}
		out = append(out, [2]float64{float64(c[0]), float64(c[1])})
	}
	return out
}

// Fill calls set for every pixel of a cols×rows image whose centre lies
// inside the polygons by the even-odd rule: a pixel inside two nested
// polygons (a hole) is outside.
func Fill(polys [][][2]float64, cols, rows int, set func(i, j int)) {
	var xs []float64
	for j := 0; j < rows; j++ {
		y := float64(j) + 0.5
		xs = xs[:0]
		for _, p := range polys {
			n := len(p)
			for k := range p {
				a, b := p[k], p[(k+1)%n]
				// half-open in y, so a vertex on the scanline counts once
				if (a[1] <= y) != (b[1] <= y) {
					xs = append(xs, a[0]+(y-a[1])*(b[0]-a[0])/(b[1]-a[1]))
				}
			}
		}
		sort.Float64s(xs)
		for k := 0; k+1 < len(xs); k += 2 {
			// pixel centres i+0.5 in [xs[k], xs[k+1])
			i0 := max(int(math.Ceil(xs[k]-0.5)), 0)
			i1 := min(int(math.Ceil(xs[k+1]-0.5)), cols)
			for i := i0; i < i1; i++ {
				set(i, j)
			}
		}
	}
}

// SliceContours traces slice k of a mask on grid g and returns the
// polygons in patient LPS millimetres.
func SliceContours(g *volume.Grid, k int, mask []byte) [][][3]float64 {
	var out [][][3]float64
	for _, poly := range Trace(mask, g.Columns, g.Rows) {
		pts := make([][3]float64, len(poly))
		for n, p := range poly {
			// corner (x, y) is index (x-0.5, y-0.5): indices are centres
			pts[n] = g.IndexToLPS(p[0]-0.5, p[1]-0.5, float64(k))
		}
		out = append(out, pts)
	}
	return out
}

// Rasterise fills an ROI's closed planar contours onto grid g: each
// contour must lie on one slice of the grid (see OnSlice) and reference,
// if any, images of the grid; the contours of one slice are filled
// together by the even-odd rule, so a contour inside another is a hole.
// It returns the masks by slice (Columns×Rows bytes, 1 inside); contours
// of other types (points, open lines) are not its business.
func Rasterise(g *volume.Grid, r *ROI) (map[int][]byte, error) {
	bySlice := map[int][][][2]float64{}
	for n, c := range r.Contours {
		what := fmt.Sprintf("ROI %d (%q) contour %d", r.Number, r.Name, n+1)
		if c.Type != ClosedPlanar {
			continue
		}
		if len(c.Points) < 3 {
			return nil, radmark.Errorf(radmark.EINVALID, "%s is a closed planar contour of %d points", what, len(c.Points))
		}
		k, poly, err := OnSlice(g, what, c)
		if err != nil {
			return nil, err
		}
		bySlice[k] = append(bySlice[k], poly)
	}
	out := map[int][]byte{}
	for k, polys := range bySlice {
		m := make([]byte, g.Columns*g.Rows)
		any := false
		Fill(polys, g.Columns, g.Rows, func(i, j int) { m[j*g.Columns+i], any = 1, true })
		if any {
			out[k] = m
		}
	}
	return out, nil
}

// OnSlice places a planar contour on the slice of g it lies on (to a
// tenth of the slice spacing, as planning systems round positions) and
// returns the slice and the points in image coordinates. The images the
// contour references, if any, must be in the grid; what names the
// contour in errors.
func OnSlice(g *volume.Grid, what string, c Contour) (int, [][2]float64, error) {
	for _, im := range c.Images {
		if _, ok := g.SliceOf(radmark.ImageRef{SOPInstanceUID: radmark.UID(im.SOPInstance), Frame: im.Frame}); !ok {
			return 0, nil, radmark.Errorf(radmark.EINVALID, "%s is on image %s, which is not in the series", what, im.SOPInstance)
		}
	}
	tol := max(0.1*g.Spacing[2], 0.05) / g.Spacing[2] // in slice index units
	poly := make([][2]float64, len(c.Points))
	k := -1
	for i, p := range c.Points {
		ijk := g.LPSToIndex(p)
		kk := int(math.Round(ijk[2]))
		if math.Abs(ijk[2]-float64(kk)) > tol || (k >= 0 && kk != k) {
			return 0, nil, radmark.Errorf(radmark.EINVALID, "%s: point (%.2f, %.2f, %.2f) lies between slices of the series (slice index %.2f)", what, p[0], p[1], p[2], ijk[2])
		}
		if kk < 0 || kk >= g.NumSlices {
			return 0, nil, radmark.Errorf(radmark.EINVALID, "%s: point (%.2f, %.2f, %.2f) lies outside the series' %d slices (slice index %.2f)", what, p[0], p[1], p[2], g.NumSlices, ijk[2])
		}
		k = kk
		poly[i] = [2]float64{ijk[0] + 0.5, ijk[1] + 0.5}
	}
	return k, poly, nil
}
