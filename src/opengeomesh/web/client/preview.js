// A layer's small preview on "My layers": its features drawn on a canvas from what the page's
// map already loaded (no map instance, no request of its own), redrawn when the layer changes.
// The canvas is an image to assistive technology, named by the page and counted here.

const PAD = 6;

function rings(geometry) {
  // every line and ring of a geometry as arrays of [x, y] (the map's projection), and points
  const type = geometry.getType();
  const c = geometry.getCoordinates ? geometry.getCoordinates() : null;
  if (type === 'Point') return { points: [c], lines: [], areas: [] };
  if (type === 'MultiPoint') return { points: c, lines: [], areas: [] };
  if (type === 'LineString') return { points: [], lines: [c], areas: [] };
  if (type === 'MultiLineString') return { points: [], lines: c, areas: [] };
  if (type === 'Polygon') return { points: [], lines: [], areas: [c] };
  if (type === 'MultiPolygon') return { points: [], lines: [], areas: c };
  if (type === 'GeometryCollection') {
    const all = { points: [], lines: [], areas: [] };
    geometry.getGeometries().forEach((g) => {
      const part = rings(g);
      all.points.push(...part.points);
      all.lines.push(...part.lines);
      all.areas.push(...part.areas);
    });
    return all;
  }
  return { points: [], lines: [], areas: [] };
}

export function drawPreview(canvas, features, colour) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || canvas.width;
  const height = canvas.clientHeight || canvas.height;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const ctx = canvas.getContext('2d');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.fillStyle = '#eef2f0';
  ctx.fillRect(0, 0, width, height);
  const label = canvas.dataset.label || 'Layer';
  canvas.setAttribute('aria-label', `${label}: preview of ${features.length} features`);
  const shapes = features.filter((f) => f.getGeometry()).map((f) => rings(f.getGeometry()));
  let [minX, minY, maxX, maxY] = [Infinity, Infinity, -Infinity, -Infinity];
  const grow = ([x, y]) => { minX = Math.min(minX, x); minY = Math.min(minY, y); maxX = Math.max(maxX, x); maxY = Math.max(maxY, y); };
  shapes.forEach((s) => { s.points.forEach(grow); s.lines.forEach((l) => l.forEach(grow)); s.areas.forEach((a) => a.forEach((r) => r.forEach(grow))); });
  if (!Number.isFinite(minX)) return;
  const span = Math.max(maxX - minX, maxY - minY, 1e-9);
  const scale = Math.min((width - 2 * PAD) / Math.max(maxX - minX, span / 1e6), (height - 2 * PAD) / Math.max(maxY - minY, span / 1e6));
  const offX = (width - (maxX - minX) * scale) / 2;
  const offY = (height - (maxY - minY) * scale) / 2;
  const px = ([x, y]) => [offX + (x - minX) * scale, height - (offY + (y - minY) * scale)];
  const path = (coords, close) => {
    coords.forEach((c, i) => { const [x, y] = px(c); if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y); });
    if (close) ctx.closePath();
  };
  ctx.lineWidth = 2;
  ctx.strokeStyle = colour;
  ctx.fillStyle = colour + '33';
  shapes.forEach((s) => s.areas.forEach((polygon) => {
    ctx.beginPath();
    polygon.forEach((ring) => path(ring, true));
    ctx.fill('evenodd');
    ctx.stroke();
  }));
  shapes.forEach((s) => s.lines.forEach((line) => { ctx.beginPath(); path(line, false); ctx.stroke(); }));
  ctx.fillStyle = colour;
  ctx.strokeStyle = '#fff';
  ctx.lineWidth = 1;
  shapes.forEach((s) => s.points.forEach((p) => {
    const [x, y] = px(p);
    ctx.beginPath();
    ctx.arc(x, y, 3.5, 0, 2 * Math.PI);
    ctx.fill();
    ctx.stroke();
  }));
}
