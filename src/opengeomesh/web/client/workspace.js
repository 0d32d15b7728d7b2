// The map of the web workspace: every layer of a page on one OpenLayers map and, for a layer
// the user may change, drawing, moving, reshaping and deleting features and editing their
// attributes through the server's own OGC API – Features Part 4 endpoints. Requests go to the
// same origin with the session cookie and the page's CSRF token in a header (see docs/web.md).
// Each layer follows its change feed (live.js), so edits made elsewhere appear by themselves;
// edits send the feature's ETag in If-Match and are refused (412) when it changed meanwhile.
import 'ol/ol.css';
import Map from 'ol/Map.js';
import View from 'ol/View.js';
import VectorLayer from 'ol/layer/Vector.js';
import VectorSource from 'ol/source/Vector.js';
import GeoJSON from 'ol/format/GeoJSON.js';
import Draw from 'ol/interaction/Draw.js';
import Modify from 'ol/interaction/Modify.js';
import Translate from 'ol/interaction/Translate.js';
import Select from 'ol/interaction/Select.js';
import ScaleLine from 'ol/control/ScaleLine.js';
import Zoom from 'ol/control/Zoom.js';
import { Style, Fill, Stroke, Circle as CircleStyle } from 'ol/style.js';
import { createEmpty, extend, isEmpty } from 'ol/extent.js';
import { fromLonLat } from 'ol/proj.js';
import { LayerFeed } from './live.js';
import { drawPreview } from './preview.js';

const COLOURS = ['#b3261e', '#1f5fbf', '#1b7f3b', '#8a4fbf', '#b35c00', '#006d77'];
const FORMAT = new GeoJSON({ dataProjection: 'EPSG:4326', featureProjection: 'EPSG:3857' });
const PAGE_LIMIT = 10000;
const MAX_STREAMS = 3; // per page; further layers poll (six connections per server in HTTP/1.1)
const LIVE_WORDS = {
  connecting: 'Connecting…',
  live: 'Live',
  polling: 'Live (checked every 15 s)',
  reconnecting: 'Reconnecting…',
  off: 'Not live: use Refresh',
};

class Stale extends Error {}

function style(colour, selected) {
  const stroke = new Stroke({ color: selected ? '#000' : colour, width: selected ? 4 : 3 });
  return new Style({
    image: new CircleStyle({ radius: selected ? 10 : 8, fill: new Fill({ color: colour }), stroke: new Stroke({ color: '#fff', width: 2 }) }),
    stroke,
    fill: new Fill({ color: colour + '33' }),
  });
}

function el(tag, attrs = {}, text = '') {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text) node.textContent = text;
  return node;
}

class Workspace {
  constructor(root) {
    this.root = root;
    this.csrf = root.dataset.csrf;
    this.layersInfo = JSON.parse(root.dataset.layers || '[]');
    this.editId = root.dataset.edit || '';
    this.status = document.getElementById('map-status');
    this.sources = {};
    this.layers = {};
    this.interactions = [];
    this.fitted = false;
    this.loading = 0;
    this.held = []; // changes that came while layers were loading, applied after
    this.feeds = [];
    this.changesSeen = 0;
    this.writing = new Set(); // ids of features this page is saving (their events are ours)
    this.map = new Map({
      target: root,
      layers: [],
      view: new View({ center: fromLonLat([10.0, 51.2]), zoom: 6 }),
      controls: [new Zoom(), new ScaleLine()],
    });
    this.layersInfo.forEach((info, index) => {
      const source = new VectorSource();
      const colour = COLOURS[index % COLOURS.length];
      const layer = new VectorLayer({ source, style: style(colour, false) });
      layer.set('ogmId', info.id);
      layer.set('colour', colour);
      this.map.addLayer(layer);
      this.sources[info.id] = source;
      this.layers[info.id] = layer;
      const swatch = document.querySelector(`[data-swatch="${CSS.escape(info.id)}"]`);
      if (swatch) swatch.style.background = colour;
      const toggle = document.querySelector(`[data-toggle="${CSS.escape(info.id)}"]`);
      if (toggle) toggle.addEventListener('change', () => layer.setVisible(toggle.checked));
    });
    const refresh = document.getElementById('refresh');
    if (refresh) refresh.addEventListener('click', () => this.loadAll());
    if (this.editId) this.setUpEditing();
    this.select = new Select({ layers: Object.values(this.layers), style: null });
    this.select.on('select', (event) => this.selected(event.selected[0] || null));
    this.map.addInteraction(this.select);
    this.loadAll();
    this.follow();
  }

  // --- live updates ---------------------------------------------------------------------------

  follow() {
    this.layersInfo.forEach((info, index) => {
      if (!info.changes) return;
      const feed = new LayerFeed(
        info.changes,
        (extra) => this.headers(extra),
        (event) => this.changed(info.id, event),
        (state) => this.liveState(info.id, state),
        { stream: index < MAX_STREAMS },
      );
      this.feeds.push(feed);
      feed.start();
    });
    window.addEventListener('pagehide', () => this.feeds.forEach((f) => f.stop()));
  }

  liveState(id, state) {
    const node = document.querySelector(`[data-live="${CSS.escape(id)}"]`);
    if (!node) return;
    node.textContent = LIVE_WORDS[state] || state;
    node.dataset.state = state;
  }

  changed(layerId, event) {
    if (this.loading) { this.held.push([layerId, event]); return; }
    const kind = String(event.type || '').split('.').pop();
    const id = String(event.subject ?? '');
    this.changesSeen += 1;
    document.body.dataset.changes = String(this.changesSeen);
    if (kind === 'delete') {
      this.removeFeature(layerId, id);
      if (layerId === this.editId && this.formFeatureId !== undefined && String(this.formFeatureId) === id) {
        this.closeForm();
        this.say(`Feature ${id} was deleted by someone else.`, true);
      }
    } else if (event.data && typeof event.data === 'object') {
      this.applyFeature(layerId, event.data);
      if (kind === 'update' && layerId === this.editId && !this.writing.has(id) && this.formFeatureId !== undefined && String(this.formFeatureId) === id) {
        this.say(`Feature ${id} was just changed by someone else; saving the form now would be refused.`, true);
      }
    } else {
      this.reloadFeature(layerId, id); // a change recorded before the feed carried features
    }
  }

  // A feature as GeoJSON put on the map: changed in place when it is there (a selection or a
  // drag in progress keeps it), added when not.
  applyFeature(layerId, geojson) {
    const source = this.sources[layerId];
    if (!source) return;
    const incoming = FORMAT.readFeature(geojson);
    const existing = source.getFeatureById(incoming.getId());
    if (existing) {
      const properties = geojson.properties || {};
      Object.keys(existing.getProperties()).forEach((k) => { if (k !== 'geometry' && !(k in properties)) existing.unset(k); });
      existing.setProperties(incoming.getProperties());
    } else {
      source.addFeature(incoming);
    }
    this.redrawn(layerId);
  }

  removeFeature(layerId, id) {
    const source = this.sources[layerId];
    const feature = source && source.getFeatureById(id);
    if (feature) source.removeFeature(feature);
    this.redrawn(layerId);
  }

  // The feature as the server has it now, with its ETag; gone from the map when it is gone.
  async reloadFeature(layerId, id) {
    const info = this.layersInfo.find((l) => l.id === layerId);
    const response = await fetch(`${info.url}/${encodeURIComponent(id)}`, { headers: this.headers(), credentials: 'same-origin', cache: 'no-store' });
    if (response.status === 404) { this.removeFeature(layerId, id); return null; }
    if (!response.ok) throw new Error(await this.problem(response));
    this.applyFeature(layerId, await response.json());
    return response.headers.get('ETag');
  }

  redrawn(layerId) {
    if (this.redrawPending) { this.redrawPending.add(layerId); return; }
    this.redrawPending = new Set([layerId]);
    requestAnimationFrame(() => {
      const layers = this.redrawPending;
      this.redrawPending = null;
      if (this.editId && layers.has(this.editId)) this.renderTable();
      layers.forEach((id) => this.preview(id));
    });
  }

  preview(layerId) {
    const canvas = document.querySelector(`canvas[data-preview="${CSS.escape(layerId)}"]`);
    if (canvas) drawPreview(canvas, this.sources[layerId].getFeatures(), this.layers[layerId].get('colour'));
  }

  headers(extra = {}) {
    return { 'X-OGM-CSRF': this.csrf, Accept: 'application/geo+json, application/json', ...extra };
  }

  say(text, isError = false) {
    if (!this.status) return;
    this.status.textContent = text;
    this.status.className = isError ? 'notice error' : 'notice';
    this.status.setAttribute('role', isError ? 'alert' : 'status');
  }

  async problem(response) {
    try {
      const body = await response.json();
      return body.detail || body.title || `the server answered ${response.status}`;
    } catch (e) {
      return `the server answered ${response.status}`;
    }
  }

  async loadAll(after = null) {
    this.say('Loading…');
    this.loading += 1;
    const failures = [];
    await Promise.all(this.layersInfo.map(async (info) => {
      try {
        const response = await fetch(`${info.url}?limit=${PAGE_LIMIT}`, { headers: this.headers(), credentials: 'same-origin', cache: 'no-store' });
        if (!response.ok) throw new Error(await this.problem(response));
        const collection = await response.json();
        const source = this.sources[info.id];
        source.clear();
        source.addFeatures(FORMAT.readFeatures(collection));
        info.count = collection.features.length;
      } catch (error) {
        failures.push(`${info.title}: ${error.message}`);
      }
    }));
    this.loading -= 1;
    if (!this.loading) {
      const held = this.held;
      this.held = [];
      held.forEach(([layerId, event]) => this.changed(layerId, event));
    }
    this.fit();
    if (this.editId) this.renderTable();
    this.layersInfo.forEach((info) => this.preview(info.id));
    document.body.dataset.loaded = String(Date.now());
    if (failures.length) this.say(`Some layers could not be loaded. ${failures.join('; ')}`, true);
    else if (after) this.say(after.text, after.error);
    else this.say(`Loaded at ${new Date().toLocaleTimeString()}.`);
  }

  fit() {
    if (this.fitted) return;
    const extent = createEmpty();
    Object.values(this.sources).forEach((s) => { if (s.getFeatures().length) extend(extent, s.getExtent()); });
    if (!isEmpty(extent)) {
      this.map.getView().fit(extent, { padding: [40, 40, 40, 40], maxZoom: 16 });
      this.fitted = true;
    }
  }

  // --- editing ------------------------------------------------------------------------------

  setUpEditing() {
    this.editSource = this.sources[this.editId];
    this.editInfo = this.layersInfo.find((l) => l.id === this.editId);
    document.querySelectorAll('[data-mode]').forEach((button) => {
      button.addEventListener('click', () => this.setMode(button.dataset.mode));
    });
    const form = document.getElementById('feature-form');
    if (form) form.addEventListener('submit', (event) => { event.preventDefault(); this.saveForm(); });
    const cancel = document.getElementById('feature-cancel');
    if (cancel) cancel.addEventListener('click', () => this.closeForm());
    const remove = document.getElementById('feature-delete');
    if (remove) remove.addEventListener('click', () => this.deleteFeature(this.formFeatureId, this.formTag));
    this.setMode('browse');
  }

  setMode(mode) {
    this.interactions.forEach((i) => this.map.removeInteraction(i));
    this.interactions = [];
    document.querySelectorAll('[data-mode]').forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.mode === mode)));
    const layer = this.layers[this.editId];
    if (mode === 'move') {
      const translate = new Translate({ layers: [layer] });
      translate.on('translatestart', (e) => e.features.forEach((f) => this.startEdit(f)));
      translate.on('translateend', (e) => e.features.forEach((f) => this.saveGeometry(f)));
      this.interactions.push(translate);
    } else if (mode === 'reshape') {
      const modify = new Modify({ source: this.editSource });
      modify.on('modifystart', (e) => e.features.forEach((f) => this.startEdit(f)));
      modify.on('modifyend', (e) => e.features.forEach((f) => this.saveGeometry(f)));
      this.interactions.push(modify);
    } else if (['Point', 'LineString', 'Polygon'].includes(mode)) {
      const draw = new Draw({ type: mode }); // the feature comes on the map from the server's answer
      draw.on('drawend', (e) => this.create(e.feature));
      this.interactions.push(draw);
    }
    this.mode = mode;
    this.interactions.forEach((i) => this.map.addInteraction(i));
    const hints = {
      browse: 'Click a feature to see and edit its attributes.',
      move: 'Drag a feature to move it; it is saved when you let go.',
      reshape: 'Drag a corner or edge of a feature; it is saved when you let go.',
      Point: 'Click the map to add a point.',
      LineString: 'Click to add corners of the line; double-click to finish.',
      Polygon: 'Click to add corners of the area; click the first corner to finish.',
      delete: 'Click a feature to delete it.',
    };
    const hint = document.getElementById('mode-hint');
    if (hint) hint.textContent = hints[mode] || '';
  }

  // A write; `etag` (the version the edit started from) goes in If-Match, and a 412 (the
  // feature changed meanwhile) is thrown as Stale.
  async write(method, url, body, contentType, etag = null) {
    const extra = body === undefined ? {} : { 'Content-Type': contentType };
    if (etag) extra['If-Match'] = etag;
    const headers = this.headers(extra);
    const id = url === this.editInfo.url ? null : decodeURIComponent(url.split('/').pop());
    if (id !== null) this.writing.add(id);
    let response;
    try {
      response = await fetch(url, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
    } finally {
      if (id !== null) setTimeout(() => this.writing.delete(id), 2000);
    }
    if (response.status === 412) throw new Stale('changed meanwhile');
    if (!response.ok) throw new Error(await this.problem(response));
    return response;
  }

  // The ETag of the version an edit starts from: asked of the server as the edit begins (the
  // items pages carry none), kept until the edit is saved.
  startEdit(feature) {
    const id = String(feature.getId());
    this.editTags = this.editTags || {};
    this.editTags[id] = fetch(this.itemUrl(id), { headers: this.headers(), credentials: 'same-origin', cache: 'no-store' })
      .then((r) => (r.ok ? r.headers.get('ETag') : null))
      .catch(() => null);
  }

  async editTag(id) {
    const pending = (this.editTags || {})[String(id)];
    if (pending) delete this.editTags[String(id)];
    return pending ? pending : null;
  }

  // After a 412: the feature as it is now, and the message.
  async stale(id) {
    try {
      await this.reloadFeature(this.editId, id);
    } catch (error) {
      /* the message below still holds */
    }
    if (this.formFeatureId !== undefined && String(this.formFeatureId) === String(id)) {
      if (this.editSource.getFeatureById(id)) this.openForm(id);
      else this.closeForm();
    }
    this.say(`Feature ${id} was changed meanwhile by someone else; it has been reloaded. Your change was not saved: make it again if it is still needed.`, true);
  }

  // A feature as the server answered a write: on the map at once (its change event, coming
  // later, changes nothing more).
  async written(response) {
    const made = await response.json();
    this.writing.add(String(made.id)); // its change event is ours
    setTimeout(() => this.writing.delete(String(made.id)), 2000);
    this.applyFeature(this.editId, made);
    return made;
  }

  itemUrl(id) {
    return `${this.editInfo.url}/${encodeURIComponent(id)}`;
  }

  geometryOf(feature) {
    return FORMAT.writeGeometryObject(feature.getGeometry(), { decimals: 7 });
  }

  async saveGeometry(feature) {
    const id = feature.getId();
    const etag = await this.editTag(id);
    const verb = this.mode === 'move' ? 'Moved' : 'Reshaped';
    try {
      const response = await this.write('PATCH', this.itemUrl(id), { geometry: this.geometryOf(feature) }, 'application/merge-patch+json', etag);
      await this.written(response);
      this.say(`${verb} feature ${id}; saved.`);
    } catch (error) {
      if (error instanceof Stale) { await this.stale(id); return; }
      await this.reloadFeature(this.editId, id).catch(() => null);
      this.say(`Feature ${id} was not changed: ${error.message}`, true);
    }
  }

  async create(feature) {
    const body = { type: 'Feature', geometry: this.geometryOf(feature), properties: {} };
    try {
      const response = await this.write('POST', this.editInfo.url, body, 'application/geo+json');
      const made = await this.written(response);
      this.say(`Added feature ${made.id}; you can give it attributes now.`);
      this.renderTable();
      this.openForm(made.id);
    } catch (error) {
      this.say(`The feature was not added: ${error.message}`, true);
    }
  }

  async deleteFeature(id, etag = null) {
    if (id === undefined || id === null) return;
    if (!window.confirm(`Delete feature ${id}?`)) return;
    try {
      await this.write('DELETE', this.itemUrl(id), undefined, undefined, await etag);
      this.removeFeature(this.editId, String(id));
      this.closeForm();
      this.say(`Deleted feature ${id}.`);
    } catch (error) {
      if (error instanceof Stale) { await this.stale(id); return; }
      this.say(`Feature ${id} was not deleted: ${error.message}`, true);
    }
  }

  selected(feature) {
    Object.values(this.layers).forEach((layer) => layer.getSource().getFeatures().forEach((f) => f.setStyle(undefined)));
    if (!feature) return;
    const owner = Object.values(this.layers).find((l) => l.getSource().hasFeature(feature));
    if (owner) feature.setStyle(style(owner.get('colour'), true));
    if (!this.editId || owner !== this.layers[this.editId]) return;
    if (this.mode === 'delete') this.deleteFeature(feature.getId());
    else if (this.mode === 'browse') this.openForm(feature.getId());
  }

  // --- the feature table and the attribute form ---------------------------------------------

  renderTable() {
    const table = document.getElementById('features');
    if (!table) return;
    const focused = table.contains(document.activeElement) ? document.activeElement.closest('tr[data-feature]') : null;
    const focusedId = focused ? focused.dataset.feature : null;
    const features = this.editSource.getFeatures().slice().sort((a, b) => String(a.getId()).localeCompare(String(b.getId()), undefined, { numeric: true }));
    const keys = [];
    features.forEach((f) => Object.keys(f.getProperties()).forEach((k) => {
      if (k !== 'geometry' && !keys.includes(k) && keys.length < 6) keys.push(k);
    }));
    const head = el('tr');
    ['Id', 'Shape', 'Where', ...keys, ''].forEach((name) => head.appendChild(el('th', { scope: 'col' }, name)));
    const body = el('tbody');
    features.forEach((feature) => {
      const row = el('tr', { 'data-feature': String(feature.getId()) });
      row.appendChild(el('td', {}, String(feature.getId())));
      const geometry = this.geometryOf(feature);
      row.appendChild(el('td', {}, geometry ? geometry.type : 'none'));
      row.appendChild(el('td', { class: 'where' }, where(geometry)));
      keys.forEach((k) => {
        const value = feature.get(k);
        row.appendChild(el('td', {}, value === undefined || value === null ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value)));
      });
      const cell = el('td');
      const button = el('button', { type: 'button', class: 'small' }, this.editInfo.editable ? 'Edit' : 'Show');
      button.setAttribute('aria-label', `${this.editInfo.editable ? 'Edit' : 'Show'} feature ${feature.getId()}`);
      button.addEventListener('click', () => this.openForm(feature.getId()));
      cell.appendChild(button);
      row.appendChild(cell);
      body.appendChild(row);
    });
    table.replaceChildren(el('caption', {}, `${features.length} features`), el('thead'), body);
    table.querySelector('thead').appendChild(head);
    if (focusedId !== null) {
      const again = table.querySelector(`tr[data-feature="${CSS.escape(focusedId)}"] button`);
      if (again) again.focus(); // a live update keeps the keyboard where it was
    }
  }

  openForm(id) {
    const feature = this.editSource.getFeatureById(id);
    const form = document.getElementById('feature-form');
    if (!feature || !form) return;
    this.formFeatureId = id;
    const editable = this.editInfo.editable;
    if (editable) {
      this.startEdit(feature);
      this.formTag = this.editTag(id);
    }
    document.getElementById('feature-title').textContent = `Feature ${id}`;
    const fields = document.getElementById('feature-fields');
    fields.replaceChildren();
    Object.entries(feature.getProperties()).forEach(([key, value]) => {
      if (key === 'geometry') return;
      fields.appendChild(this.field(key, value, editable));
    });
    if (editable) {
      fields.appendChild(this.field('', '', true));
    }
    const geometry = document.getElementById('feature-geometry');
    geometry.value = JSON.stringify(this.geometryOf(feature));
    geometry.readOnly = !editable;
    form.hidden = false;
    (form.querySelector('input[name=value]') || geometry).focus();
  }

  field(key, value, editable) {
    const row = el('div', { class: 'field-row' });
    const n = document.querySelectorAll('.field-row').length;
    const nameInput = el('input', { type: 'text', name: 'key', 'aria-label': `Attribute name ${n + 1}`, value: key, placeholder: 'new attribute' });
    const text = value === null || value === undefined ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value);
    const valueInput = el('input', { type: 'text', name: 'value', 'aria-label': key ? `Value of ${key}` : `Value of new attribute`, value: text });
    valueInput.dataset.kind = typeof value;
    if (!editable) { nameInput.readOnly = true; valueInput.readOnly = true; }
    row.append(nameInput, valueInput);
    return row;
  }

  closeForm() {
    const form = document.getElementById('feature-form');
    if (form) form.hidden = true;
    this.formFeatureId = undefined;
    this.formTag = null;
  }

  async saveForm() {
    const id = this.formFeatureId;
    const feature = this.editSource.getFeatureById(id);
    if (!feature) return;
    const properties = {};
    const before = feature.getProperties();
    document.querySelectorAll('#feature-fields .field-row').forEach((row) => {
      const key = row.querySelector('[name=key]').value.trim();
      const input = row.querySelector('[name=value]');
      if (!key) return;
      properties[key] = typed(input.value, input.dataset.kind);
    });
    Object.keys(before).forEach((key) => { if (key !== 'geometry' && !(key in properties)) properties[key] = null; });
    let geometry;
    try {
      geometry = JSON.parse(document.getElementById('feature-geometry').value);
    } catch (error) {
      this.say(`Feature ${id} was not changed: the geometry is not valid JSON.`, true);
      return;
    }
    try {
      const response = await this.write('PATCH', this.itemUrl(id), { geometry, properties }, 'application/merge-patch+json', await this.formTag);
      await this.written(response);
      this.closeForm();
      this.say(`Saved feature ${id}.`);
    } catch (error) {
      if (error instanceof Stale) { await this.stale(id); return; }
      this.say(`Feature ${id} was not changed: ${error.message}`, true);
    }
  }
}

function typed(text, kind) {
  if (kind === 'number' && text.trim() !== '' && !Number.isNaN(Number(text))) return Number(text);
  if (kind === 'boolean' && (text === 'true' || text === 'false')) return text === 'true';
  if (kind === 'object' && text.trim() !== '') {
    try { return JSON.parse(text); } catch (e) { return text; }
  }
  return text;
}

function where(geometry) {
  if (!geometry) return '';
  if (geometry.type === 'Point') return geometry.coordinates.map((c) => c.toFixed(5)).join(', ');
  const flat = JSON.stringify(geometry.coordinates).match(/-?\d+(\.\d+)?(e-?\d+)?/g) || [];
  return `${flat.length / 2} positions`;
}

const root = document.getElementById('map');
if (root) window.ogmWorkspace = new Workspace(root);

// "Copy" buttons (invite strings and links)
document.querySelectorAll('[data-copy]').forEach((button) => {
  button.addEventListener('click', async () => {
    const source = document.getElementById(button.dataset.copy);
    try {
      await navigator.clipboard.writeText(source.value || source.textContent);
      button.textContent = 'Copied';
    } catch (error) {
      source.select && source.select();
      button.textContent = 'Select and copy with Ctrl+C';
    }
  });
});

// Forms that ask first (revoking a share)
document.querySelectorAll('form[data-confirm]').forEach((form) => {
  form.addEventListener('submit', (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
});
