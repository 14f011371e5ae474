/*
 * Lookout's map page logic. folium creates the Leaflet map; LookoutMap.init() takes it
 * from there. Python talks to this page only through the QWebChannel object `bridge`:
 * it sends batches of report and alert changes (never a new page) and commands (select,
 * focus, draw, heat map, tiles); this page answers with clicks, drawn areas and
 * "batch N applied".
 *
 * Citizen text is only ever put on the page with textContent: popups and labels are DOM
 * nodes built here, never HTML strings.
 */
"use strict";

window.LookoutMap = (function () {
  const AGE_FADE_S = 48 * 3600; // a report fades over two days
  const MIN_OPACITY = 0.45;

  let map = null;
  let cfg = {};
  let bridge = null;
  let canvas = null;
  let cluster = null;
  let drawnLayer = null;
  let alertLayer = null;
  let tileLayer = null;
  let heatLayer = null;
  let drawer = null;
  let grid = null;
  let placesLayer = null; // the gazetteer's names, shown when there is no street map
  let gotoMarker = null;
  let legend = null;
  let measureControl = null;
  let hint = null;
  let hintDismissed = false;
  let themeStyle = null; // the <style> element built from cfg's colours
  let selectedId = null;
  const markers = new Map(); // report id -> L.CircleMarker (marker.report holds the data)
  const alerts = new Map(); // alert id -> {layer, badge, label, past: [{layer, badge, label}]}
  let onlyIds = null; // a Set of the report ids to show (the list's narrowing), null = all
  let hideExercise = false; // exercise reports (r.ex) left off the map
  let filtered = new Set(); // report ids the feed's filters hide (r.hide, or a "filter" command)
  const EXERCISE_RING = "#e3b341"; // with the "EX" badge and words in the popup, never alone
  const addQueue = []; // {layers, seq} waiting for the cluster group
  let adding = false;
  // While a mouse button is down nothing is added to the cluster group: a report landing
  // between press and release would turn the marker under the pointer into a cluster (or
  // redraw a cluster's icon), and the browser then sends the click to neither.
  let pointerHeld = false;
  const HOLD_MS = 3000;
  let receivedSeq = 0;
  let appliedSeq = 0;
  let heatDirty = false;
  const afterAdd = []; // commands waiting for markers still being clustered

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function words(s) {
    return String(s || "").replace(/_/g, " ");
  }

  function capital(s) {
    const w = words(s);
    return w.charAt(0).toUpperCase() + w.slice(1);
  }

  function categoryLabel(cat) {
    return (cfg.categoryLabels || {})[cat] || capital(cat);
  }

  // ------------------------------------------------------------ marker styling

  function ageOpacity(r) {
    const age = Date.now() / 1000 - (r.t || 0);
    const fade = Math.min(Math.max(age / AGE_FADE_S, 0), 1);
    const base = r.status === "closed" ? 0.5 : 1;
    return Math.max(MIN_OPACITY, base * (1 - fade * (1 - MIN_OPACITY)));
  }

  function styleFor(r) {
    const selected = r.id === selectedId;
    const opacity = ageOpacity(r);
    let ring = cfg.statusColours[r.status] || "#768390";
    let weight = r.status === "new" ? 3 : 2;
    let dash = r.status === "closed" ? "2 3" : null;
    if (r.ex) {
      // an exercise report: a thick, broken yellow ring, whatever its status
      ring = EXERCISE_RING;
      weight = 4;
      dash = "4 3";
    }
    return {
      renderer: canvas,
      radius: (r.prio === "high" ? 9 : r.prio === "low" ? 5 : 7) + (selected ? 4 : 0),
      fillColor: cfg.categoryColours[r.cat] || cfg.categoryColours.other || "#adbac7",
      fillOpacity: r.status === "closed" ? opacity * 0.5 : opacity * 0.9,
      color: selected ? "#ffffff" : ring,
      opacity: selected ? 1 : opacity,
      weight: selected ? 4 : weight,
      dashArray: selected ? null : dash,
    };
  }

  function ageText(t) {
    const s = Math.max(0, Date.now() / 1000 - t);
    if (s < 90) return "just now";
    if (s < 5400) return Math.round(s / 60) + " min ago";
    if (s < 129600) return Math.round(s / 3600) + " h ago";
    return Math.round(s / 86400) + " days ago";
  }

  function popupFor(marker) {
    const r = marker.report;
    const root = el("div", "lk-popup");
    if (r.ex) root.appendChild(el("div", "lk-popup-exercise", (r.exLabel || "EXERCISE") + ": not a real incident"));
    const head = el("div", "lk-popup-head");
    if (r.ex) head.appendChild(el("span", "lk-ex-badge", "EX"));
    const swatch = el("span", "lk-swatch");
    swatch.style.background = cfg.categoryColours[r.cat] || "#adbac7";
    head.appendChild(swatch);
    head.appendChild(el("span", "lk-popup-cat", categoryLabel(r.cat)));
    head.appendChild(el("span", "lk-popup-status", capital(r.status)));
    root.appendChild(head);
    root.appendChild(el("div", "lk-popup-text", r.text));
    const meta = [r.who, ageText(r.t)];
    if (r.prio === "high") meta.push("high priority");
    if (r.inc) meta.push("incident " + r.inc);
    root.appendChild(el("div", "lk-popup-meta", meta.join(" · ")));
    return root;
  }

  function makeMarker(r) {
    const marker = L.circleMarker([r.lat, r.lon], styleFor(r));
    marker.report = r;
    // popupFor returns a DOM node whose citizen text is set with textContent, never HTML
    marker.on("click", function () {
      if (measure.on) return; // the map's click handler adds the point
      select(r.id, false);
      openPopup(marker);
      if (bridge) bridge.reportClicked(marker.report.id);
    });
    return marker;
  }

  // One popup, on the map rather than bound to a marker: a report that lands next to the
  // one being read clusters that marker (takes it off the map), and a bound popup would
  // close with it under the dispatcher's eyes. It closes when closed, when another
  // opens, or when its report leaves the map (erased, filtered out).
  let popup = null;
  let popupId = null;

  function openPopup(marker) {
    if (!popup) {
      popup = L.popup({ maxWidth: 320, autoPanPadding: [20, 20] });
      popup.on("remove", function () {
        popupId = null;
      });
    }
    popupId = marker.report.id;
    // popupFor returns a DOM node whose citizen text is set with textContent, never HTML
    popup.setLatLng(marker.getLatLng()).setContent(popupFor(marker));
    if (!map.hasLayer(popup)) popup.openOn(map);
    else popup.update();
  }

  function popupOpenFor(id) {
    return popupId === id && popup && map.hasLayer(popup);
  }

  function closePopupFor(id) {
    if (popupOpenFor(id)) map.closePopup(popup);
  }

  // Neutral discs (category colours belong to the reports), sized by count.
  function clusterIcon(group) {
    const n = group.getChildCount();
    const size = n < 10 ? 30 : n < 100 ? 36 : n < 1000 ? 42 : 50;
    const node = el("div", "lk-cluster", n < 10000 ? n : Math.round(n / 1000) + "k");
    node.style.width = node.style.height = node.style.lineHeight = size + "px";
    return L.divIcon({ html: node.outerHTML, className: "lk-cluster-icon", iconSize: [size, size] });
  }

  // ------------------------------------------------------------ batches from Python

  function apply(batch) {
    receivedSeq = Math.max(receivedSeq, batch.seq || 0);
    const fresh = [];
    const show = [];
    const hide = [];
    for (const r of batch.reports || []) {
      if (r.hide) filtered.add(r.id);
      else filtered.delete(r.id);
      const marker = markers.get(r.id);
      if (!marker) {
        const m = makeMarker(r);
        markers.set(r.id, m);
        fresh.push(m);
        continue;
      }
      const moved = marker.report.lat !== r.lat || marker.report.lon !== r.lon;
      marker.report = r;
      marker.setStyle(styleFor(r));
      if (moved) {
        const inCluster = cluster.hasLayer(marker);
        if (inCluster) cluster.removeLayer(marker);
        marker.setLatLng([r.lat, r.lon]);
        if (inCluster) cluster.addLayer(marker);
      }
      if (popupOpenFor(r.id)) popup.setLatLng([r.lat, r.lon]).setContent(popupFor(marker));
      if (!marker.queued) {
        const want = shown(marker);
        const has = cluster.hasLayer(marker);
        if (want && !has) show.push(marker);
        else if (!want && has) hide.push(marker);
      }
    }
    if (hide.length) {
      for (const m of hide) closePopupFor(m.report.id);
      cluster.removeLayers(hide);
    }
    if (show.length) addQueue.push({ layers: show, seq: 0 });
    for (const id of batch.removeReports || []) removeReport(id);
    for (const a of batch.alerts || []) showAlert(a, false);
    for (const id of batch.hideAlerts || []) hideAlert(id);
    if ((batch.alerts || []).length || (batch.hideAlerts || []).length) layoutLabels();
    if ((batch.reports || []).length || (batch.removeReports || []).length) heatDirty = true;
    for (const m of fresh) m.queued = true;
    addQueue.push({ layers: fresh, seq: batch.seq || 0 });
    pump();
  }

  // A report a citizen erased: its marker, popup and selection go from the page.
  function removeReport(id) {
    const marker = markers.get(id);
    if (!marker) return;
    marker.removed = true; // a marker still waiting in addQueue is not added after all
    closePopupFor(id);
    if (cluster.hasLayer(marker)) cluster.removeLayer(marker);
    markers.delete(id);
    if (selectedId === id) selectedId = null;
  }

  function pump() {
    if (adding || pointerHeld) return;
    const job = addQueue.shift();
    if (!job) {
      finish();
      return;
    }
    for (const m of job.layers) m.queued = false;
    if (!job.layers.length) {
      appliedSeq = Math.max(appliedSeq, job.seq);
      pump();
      return;
    }
    const layers = job.layers.filter(shown);
    if (!layers.length) {
      appliedSeq = Math.max(appliedSeq, job.seq);
      pump();
      return;
    }
    adding = true;
    cluster.options.chunkProgress = function (done, total) {
      if (done < total) return;
      adding = false;
      appliedSeq = Math.max(appliedSeq, job.seq);
      setTimeout(pump, 0);
    };
    cluster.addLayers(layers, true);
  }

  function finish() {
    if (heatDirty && heatLayer) {
      heatLayer.setLatLngs(heatPoints());
    }
    heatDirty = false;
    while (afterAdd.length && !adding && !addQueue.length) afterAdd.shift()();
    if (bridge) bridge.applied(appliedSeq);
  }

  // ------------------------------------------------------------ narrowing

  function shown(marker) {
    if (marker.removed) return false;
    if (hideExercise && marker.report.ex) return false;
    if (filtered.has(marker.report.id)) return false;
    return !onlyIds || onlyIds.has(marker.report.id);
  }

  // Exercise reports leave the map (or come back); later ones are held to the same.
  function setHideExercise(on) {
    hideExercise = !!on;
    return setOnly(onlyIds ? Array.from(onlyIds) : null);
  }

  // The feed's filters: these reports' markers leave the map (all others show); reports
  // that arrive later carry their own flag (r.hide).
  function setFilter(hidden) {
    filtered = new Set(hidden || []);
    return setOnly(onlyIds ? Array.from(onlyIds) : null);
  }

  // Only these reports' markers stay on the map (null: every report), as the list that
  // drives the map shows them. Markers are kept, only taken out of the cluster group.
  function setOnly(ids) {
    onlyIds = ids ? new Set(ids) : null;
    const add = [];
    const remove = [];
    for (const m of markers.values()) {
      const want = shown(m);
      const has = cluster.hasLayer(m);
      if (want && !has) add.push(m);
      else if (!want && has) remove.push(m);
    }
    if (remove.length) {
      for (const m of remove) closePopupFor(m.report.id);
      cluster.removeLayers(remove);
    }
    heatDirty = true;
    addQueue.push({ layers: add, seq: 0 });
    pump();
    return true;
  }

  // ------------------------------------------------------------ selection

  function select(id, pan) {
    const previous = selectedId ? markers.get(selectedId) : null;
    selectedId = id;
    if (previous) previous.setStyle(styleFor(previous.report));
    const marker = markers.get(id);
    if (!marker) return false;
    marker.setStyle(styleFor(marker.report));
    if (marker.bringToFront && map.hasLayer(marker)) marker.bringToFront();
    if (pan) map.panTo(marker.getLatLng(), { animate: true });
    return true;
  }

  // Zoom until the marker stands on its own (markercluster's zoomToShowLayer only
  // knows icon markers, not canvas circles), then open its popup.
  function focus(id) {
    if (!select(id, false)) return false;
    const marker = markers.get(id);
    if (!shown(marker)) return false; // filtered off the map: it would never be added
    const latlng = marker.getLatLng();
    const open = function () {
      marker.bringToFront();
      openPopup(marker);
    };
    let zoom = map.getZoom();
    const parent = marker.__parent;
    if (parent && parent._zoom !== undefined && parent._childCount > 1) {
      zoom = Math.max(zoom, parent._zoom + 1);
    }
    zoom = Math.min(zoom, map.getMaxZoom());
    if (marker._map) {
      map.setView(latlng, zoom);
      open();
      return true;
    }
    marker.once("add", open);
    map.once("moveend", function () {
      const visible = cluster.getVisibleParent(marker);
      if (visible && visible !== marker && visible.spiderfy) visible.spiderfy();
    });
    map.setView(latlng, zoom, { animate: false });
    return true;
  }

  // ------------------------------------------------------------ drawn areas

  function startDraw(kind) {
    if (drawer) drawer.disable();
    if (measure.on) endMeasure(); // the next clicks are the area's corners
    const shape = { color: cfg.highlight, weight: 2, fillOpacity: 0.12 };
    drawer =
      kind === "circle"
        ? new L.Draw.Circle(map, { shapeOptions: shape, showRadius: true, metric: true })
        : new L.Draw.Polygon(map, { shapeOptions: shape, allowIntersection: false, showArea: false });
    drawer.enable();
  }

  function cancelDraw() {
    if (drawer) drawer.disable();
    drawer = null;
  }

  function featureOf(layer, type) {
    if (type === "circle" || layer instanceof L.Circle) {
      const c = layer.getLatLng();
      return {
        type: "Feature",
        properties: { radius: layer.getRadius() },
        geometry: { type: "Point", coordinates: [c.lng, c.lat] },
      };
    }
    return layer.toGeoJSON();
  }

  // What the draw tools call when a shape is finished; tests call it directly.
  function areaDrawn(feature) {
    if (bridge) bridge.areaDrawn(JSON.stringify(feature));
  }

  function onDrawCreated(e) {
    drawer = null;
    drawnLayer.clearLayers();
    drawnLayer.addLayer(e.layer);
    areaDrawn(featureOf(e.layer, e.layerType));
  }

  // ------------------------------------------------------------ alert areas

  function alertLayerOf(a) {
    const style = {
      color: a.state === "active" ? "#f0883e" : "#d29922",
      weight: 2,
      dashArray: a.state === "active" ? null : "6 4",
      fillOpacity: 0.08,
      interactive: true,
    };
    if (a.kind === "circle") return L.circle([a.lat, a.lon], Object.assign({ radius: a.r }, style));
    return L.polygon(a.ring, style);
  }

  // An alert's label is a small badge sitting on the area's top edge, outside it, so it
  // never covers the markers inside: the counts always show, the headline is cut to one
  // line until the pointer is over the badge.
  function alertLabel(a) {
    const root = el("div", "lk-alert-label");
    root.appendChild(el("div", "lk-alert-headline", a.headline));
    root.appendChild(el("div", "lk-alert-counts", a.label));
    return root;
  }

  // The middle of the area's top edge (of its bounding box), worked out from the shape
  // itself, so it needs no map projection.
  function topEdge(a) {
    if (a.kind === "circle") return [a.lat + a.r / 111320, a.lon];
    let north = -90;
    let west = 180;
    let east = -180;
    for (const [lat, lon] of a.ring) {
      north = Math.max(north, lat);
      west = Math.min(west, lon);
      east = Math.max(east, lon);
    }
    return [north, (west + east) / 2];
  }

  function alertBadge(a, label) {
    if (!label.classList.contains("lk-alert-superseded")) {
      label.classList.toggle("lk-alert-pending", a.state !== "active");
    }
    const icon = L.divIcon({ className: "lk-alert-badge", html: label, iconSize: null });
    // the tooltip pane: above the markers, as the old permanent tooltip was
    return L.marker(topEdge(a), { icon: icon, interactive: false, keyboard: false, pane: "tooltipPane" });
  }

  // A version the alert went through before its current one (the evidence workspace
  // shows them): dashed and faint under the current area, labelled with its version and
  // when it was sent; all of it set as text.
  function supersededOf(p) {
    const style = {
      color: "#d29922",
      weight: 1.5,
      opacity: 0.55,
      dashArray: "3 6",
      fillOpacity: 0.02,
      interactive: false,
    };
    const layer =
      p.kind === "circle"
        ? L.circle([p.lat, p.lon], Object.assign({ radius: p.r }, style))
        : L.polygon(p.ring, style);
    const label = el("div", "lk-alert-label lk-alert-superseded");
    label.appendChild(el("div", "lk-alert-headline", p.label));
    label.appendChild(el("div", "lk-alert-past-headline", p.headline));
    label.title = p.label + "\n" + p.headline;
    return { layer: layer, badge: alertBadge(p, label), label: label };
  }

  function removeAlertLayers(entry) {
    for (const part of [entry].concat(entry.past)) {
      alertLayer.removeLayer(part.layer);
      alertLayer.removeLayer(part.badge);
    }
  }

  function showAlert(a, fit) {
    const old = alerts.get(a.id);
    const key = JSON.stringify([a.kind, a.ring, a.lat, a.lon, a.r, a.state, a.superseded || []]);
    if (old && old.key === key) {
      old.label.querySelector(".lk-alert-counts").textContent = a.label;
      old.label.querySelector(".lk-alert-headline").textContent = a.headline;
      old.label.title = a.headline;
    } else {
      if (old) removeAlertLayers(old);
      // the superseded versions first, so the current area is drawn over them
      const past = (a.superseded || []).map(supersededOf);
      for (const p of past) alertLayer.addLayer(p.layer);
      const layer = alertLayerOf(a);
      const label = alertLabel(a);
      label.title = a.headline;
      const badge = alertBadge(a, label);
      alertLayer.addLayer(layer);
      for (const p of past) alertLayer.addLayer(p.badge);
      alertLayer.addLayer(badge);
      alerts.set(a.id, { id: a.id, layer: layer, badge: badge, label: label, past: past, key: key });
    }
    if (fit) map.fitBounds(alerts.get(a.id).layer.getBounds(), { padding: [40, 40], maxZoom: 17 });
  }

  function hideAlert(id) {
    const old = alerts.get(id);
    if (!old) return;
    removeAlertLayers(old);
    alerts.delete(id);
  }

  // Labels stay inside the view while their area is in it, and never cover each other:
  // current alerts' labels are placed first, each at its area's top edge (clamped to the
  // view); a label that would cover one already placed steps down past it (or up, at
  // the bottom of the view). Run after every move, zoom, resize and change of alerts.
  const LABEL_MARGIN = 4;
  const LABEL_GAP = 2;

  function overlapping(placed, box) {
    return placed.find(function (b) {
      return box.x < b.x + b.w && b.x < box.x + box.w && box.y < b.y + b.h && b.y < box.y + box.h;
    });
  }

  function placeLabel(entry, placed, size, view) {
    const label = entry.label;
    const w = label.offsetWidth;
    const h = label.offsetHeight;
    if (!w || !h) return;
    const anchor = map.latLngToContainerPoint(entry.badge.getLatLng());
    const home = { x: anchor.x - w / 2, y: anchor.y - 3 - h };
    const box = { x: home.x, y: home.y, w: w, h: h };
    const inView = view.intersects(entry.layer.getBounds());
    const low = LABEL_MARGIN;
    const right = size.x - LABEL_MARGIN - w;
    const bottom = size.y - LABEL_MARGIN - h;
    if (inView) {
      box.x = Math.max(low, Math.min(box.x, right));
      box.y = Math.max(low, Math.min(box.y, bottom));
    }
    const start = box.y;
    let hit = overlapping(placed, box);
    for (let i = 0; hit && i <= placed.length; i++) {
      box.y = hit.y + hit.h + LABEL_GAP;
      hit = overlapping(placed, box);
    }
    if (inView && (hit || box.y > bottom)) {
      box.y = start; // no room below: step up instead
      hit = overlapping(placed, box);
      for (let i = 0; hit && i <= placed.length; i++) {
        box.y = hit.y - h - LABEL_GAP;
        hit = overlapping(placed, box);
      }
    }
    placed.push(box);
    const dx = Math.round(box.x - anchor.x);
    const dy = Math.round(box.y - home.y);
    label.style.transform = "translate(" + dx + "px, " + dy + "px)";
  }

  function layoutLabels() {
    if (!map) return;
    const size = map.getSize();
    const view = map.getBounds();
    const placed = [];
    const all = Array.from(alerts.values());
    for (const a of all) placeLabel(a, placed, size, view);
    for (const a of all) for (const p of a.past) placeLabel(p, placed, size, view);
  }

  function labelBoxes() {
    const box = map.getContainer().getBoundingClientRect();
    const out = [];
    for (const a of alerts.values()) {
      for (const part of [a].concat(a.past)) {
        const r = part.label.getBoundingClientRect();
        out.push({
          id: a.id,
          superseded: part !== a,
          left: r.left - box.left,
          top: r.top - box.top,
          right: r.right - box.left,
          bottom: r.bottom - box.top,
          width: box.width,
          height: box.height,
        });
      }
    }
    return out;
  }

  // ------------------------------------------------------------ heat map

  function heatPoints() {
    const out = [];
    for (const m of markers.values()) {
      if (m.report.status !== "closed" && shown(m)) out.push([m.report.lat, m.report.lon, 0.6]);
    }
    return out;
  }

  function setHeat(on) {
    if (on && !heatLayer) {
      heatLayer = L.heatLayer(heatPoints(), { radius: 22, blur: 18, minOpacity: 0.25, pane: "lkBelow" });
      heatLayer.addTo(map);
    } else if (!on && heatLayer) {
      map.removeLayer(heatLayer);
      heatLayer = null;
    }
  }

  // ------------------------------------------------------------ tiles

  // A neutral offline background: a light grid that moves with the map. No requests.
  const NeutralGrid = L.GridLayer.extend({
    createTile: function () {
      const tile = document.createElement("canvas");
      const size = this.getTileSize();
      tile.width = size.x;
      tile.height = size.y;
      const ctx = tile.getContext("2d");
      ctx.strokeStyle = cfg.grid;
      ctx.globalAlpha = 0.55;
      ctx.lineWidth = 1;
      ctx.beginPath();
      for (let i = 0; i <= size.x; i += size.x / 4) {
        ctx.moveTo(i + 0.5, 0);
        ctx.lineTo(i + 0.5, size.y);
        ctx.moveTo(0, i + 0.5);
        ctx.lineTo(size.x, i + 0.5);
      }
      ctx.stroke();
      return tile;
    },
  });

  function setTiles(spec) {
    if (tileLayer) map.removeLayer(tileLayer);
    tileLayer = null;
    if (spec && (spec.kind === "xyz" || spec.kind === "mbtiles") && spec.url) {
      tileLayer = L.tileLayer(spec.url, {
        maxZoom: 19,
        maxNativeZoom: 19,
        subdomains: "abc",
        attribution: spec.attribution || "",
      });
      tileLayer.addTo(map);
    }
    showBackgroundState();
  }

  // ------------------------------------------------------------ legend

  // What the markers' colours, rings, sizes and fading mean, built from the same colours
  // styleFor uses; text only, set with textContent.
  function dot(fill, ring, opts) {
    const o = opts || {};
    const node = el("span", "lk-legend-dot");
    const size = o.size || 12;
    node.style.width = node.style.height = size + "px";
    node.style.background = fill || "transparent";
    node.style.borderColor = ring || "transparent";
    node.style.borderWidth = (o.weight || 2) + "px";
    node.style.borderStyle = o.dashed ? "dashed" : "solid";
    if (o.opacity !== undefined) node.style.opacity = String(o.opacity);
    return node;
  }

  function legendEntries() {
    const neutral = cfg.muted || "#768390";
    const out = [];
    for (const [cat, colour] of Object.entries(cfg.categoryColours || {})) {
      out.push({ group: "Fill: category", text: categoryLabel(cat), node: dot(colour, neutral), half: true });
    }
    for (const [status, colour] of Object.entries(cfg.statusColours || {})) {
      const o = { weight: status === "new" ? 3 : 2, dashed: status === "closed", opacity: status === "closed" ? 0.5 : 1 };
      const extra = status === "new" ? " (thick ring)" : status === "closed" ? " (dashed, faint)" : "";
      out.push({ group: "Ring: status", text: capital(status) + extra, node: dot(null, colour, o) });
    }
    out.push({ group: "Size: priority", text: "High", node: dot(neutral, neutral, { size: 18 }), half: true });
    out.push({ group: "Size: priority", text: "Normal", node: dot(neutral, neutral, { size: 14 }), half: true });
    out.push({ group: "Size: priority", text: "Low", node: dot(neutral, neutral, { size: 10 }), half: true });
    out.push({ group: "Age", text: "Fades over two days", node: dot(neutral, neutral, { opacity: MIN_OPACITY }) });
    const ex = dot(null, EXERCISE_RING, { weight: 3, dashed: true });
    out.push({ group: "Other", text: "Exercise (EX in the popup)", node: ex });
    out.push({ group: "Other", text: "Selected", node: dot(neutral, "#ffffff", { weight: 3 }) });
    const c = el("span", "lk-legend-cluster", "12");
    out.push({ group: "Other", text: "A cluster of 12 reports: zoom in", node: c });
    return out;
  }

  const Legend = L.Control.extend({
    onAdd: function () {
      const root = el("div", "lk-legend leaflet-bar");
      const toggle = el("a", "lk-legend-toggle", "Legend");
      toggle.href = "#";
      toggle.title = "What the markers' colours, rings and sizes mean";
      toggle.setAttribute("role", "button");
      const body = el("div", "lk-legend-body");
      body.hidden = true;
      let group = null;
      for (const entry of legendEntries()) {
        if (entry.group !== group) {
          group = entry.group;
          body.appendChild(el("div", "lk-legend-group", group));
        }
        const row = el("div", entry.half ? "lk-legend-row lk-legend-half" : "lk-legend-row");
        row.appendChild(entry.node);
        row.appendChild(el("span", "lk-legend-text", entry.text));
        body.appendChild(row);
      }
      L.DomEvent.on(toggle, "click", function (e) {
        L.DomEvent.preventDefault(e);
        body.hidden = !body.hidden;
        toggle.textContent = body.hidden ? "Legend" : "Hide legend";
      });
      root.appendChild(toggle);
      root.appendChild(body);
      L.DomEvent.disableClickPropagation(root);
      L.DomEvent.disableScrollPropagation(root);
      this._body = body;
      return root;
    },
  });

  function legendTexts() {
    if (!legend || !legend._body) return [];
    return Array.from(legend._body.querySelectorAll(".lk-legend-group, .lk-legend-text")).map((n) => n.textContent);
  }

  // ------------------------------------------------------------ measuring

  // Distance along the clicked points (great circle, the relay's formula) and, from three
  // points on, the area they enclose (on the sphere). Esc or "End" stops.
  const EARTH_R = 6371000;
  const measure = { on: false, points: [], line: null, shape: null };

  function rad(d) {
    return (d * Math.PI) / 180;
  }

  function distanceM(a, b) {
    const p1 = rad(a.lat);
    const p2 = rad(b.lat);
    const dp = p2 - p1;
    const dl = rad(b.lng - a.lng);
    const h = Math.sin(dp / 2) ** 2 + Math.cos(p1) * Math.cos(p2) * Math.sin(dl / 2) ** 2;
    return 2 * EARTH_R * Math.asin(Math.min(1, Math.sqrt(h)));
  }

  function pathM(points) {
    let total = 0;
    for (let i = 1; i < points.length; i++) total += distanceM(points[i - 1], points[i]);
    return total;
  }

  // The area of a polygon on the sphere (the spherical-excess sum used by Leaflet.draw).
  function areaM2(points) {
    if (points.length < 3) return 0;
    let sum = 0;
    for (let i = 0; i < points.length; i++) {
      const a = points[i];
      const b = points[(i + 1) % points.length];
      sum += rad(b.lng - a.lng) * (2 + Math.sin(rad(a.lat)) + Math.sin(rad(b.lat)));
    }
    return Math.abs((sum * EARTH_R * EARTH_R) / 2);
  }

  function lengthText(m) {
    if (m < 1000) return Math.round(m) + " m";
    return (m / 1000).toFixed(m < 10000 ? 2 : 1) + " km";
  }

  function areaText(a) {
    if (a < 10000) return Math.round(a).toLocaleString("en-GB") + " m²";
    if (a < 1e6) return (a / 10000).toFixed(2) + " ha (" + Math.round(a).toLocaleString("en-GB") + " m²)";
    return (a / 1e6).toFixed(2) + " km² (" + Math.round(a / 10000).toLocaleString("en-GB") + " ha)";
  }

  function measureText() {
    const pts = measure.points;
    if (!measure.on && !pts.length) return "";
    if (!pts.length) return "Click points on the map; Esc ends";
    let text = "Distance " + lengthText(pathM(pts));
    if (pts.length >= 3) text += " · Area " + areaText(areaM2(pts));
    return text;
  }

  function drawMeasure() {
    const style = { color: cfg.highlight, weight: 3, dashArray: "6 4", interactive: false, pane: "lkMeasure" };
    if (!measure.line) {
      measure.line = L.polyline([], Object.assign({}, style, { renderer: L.svg({ pane: "lkMeasure" }) })).addTo(map);
      measure.shape = L.polygon([], Object.assign({}, style, { weight: 0, fillOpacity: 0.1, renderer: L.svg({ pane: "lkMeasure" }) })).addTo(map);
    }
    measure.line.setLatLngs(measure.points);
    measure.shape.setLatLngs(measure.points.length >= 3 ? measure.points : []);
    if (measureControl) measureControl.update();
  }

  function startMeasure() {
    if (drawer) cancelDraw();
    measure.on = true;
    measure.points = [];
    map.getContainer().classList.add("lk-measuring");
    drawMeasure();
    return true;
  }

  // Stops adding points; the last measurement stays on the map until the next one or
  // "Clear".
  function endMeasure() {
    measure.on = false;
    map.getContainer().classList.remove("lk-measuring");
    if (measureControl) measureControl.update();
    return true;
  }

  function clearMeasure() {
    endMeasure();
    measure.points = [];
    drawMeasure();
  }

  function addMeasurePoint(latlng) {
    measure.points.push(L.latLng(latlng));
    drawMeasure();
    return measureText();
  }

  function onMapClick(e) {
    if (measure.on) addMeasurePoint(e.latlng);
  }

  const MeasureControl = L.Control.extend({
    onAdd: function () {
      const root = el("div", "lk-measure leaflet-bar");
      const button = el("a", "lk-measure-button", "Measure");
      button.href = "#";
      button.title = "Measure a distance or an area: click points on the map, Esc ends";
      button.setAttribute("role", "button");
      const readout = el("span", "lk-measure-readout");
      const clear = el("a", "lk-measure-clear", "Clear");
      clear.href = "#";
      clear.setAttribute("role", "button");
      L.DomEvent.on(button, "click", function (e) {
        L.DomEvent.preventDefault(e);
        if (measure.on) endMeasure();
        else startMeasure();
      });
      L.DomEvent.on(clear, "click", function (e) {
        L.DomEvent.preventDefault(e);
        clearMeasure();
      });
      root.appendChild(button);
      root.appendChild(readout);
      root.appendChild(clear);
      L.DomEvent.disableClickPropagation(root);
      this._button = button;
      this._readout = readout;
      this._clear = clear;
      this.update = function () {
        const text = measureText();
        readout.textContent = text;
        readout.hidden = !text;
        clear.hidden = !measure.points.length;
        button.textContent = measure.on ? "End" : "Measure";
        root.classList.toggle("lk-measure-on", measure.on);
      };
      this.update();
      return root;
    },
  });

  // ------------------------------------------------------------ places and going to them

  function nameMarker(p, cls) {
    const node = el("div", cls, p.name);
    return L.marker([p.lat, p.lon], {
      icon: L.divIcon({ className: "lk-place-icon", html: node, iconSize: null }),
      interactive: false,
      keyboard: false,
      pane: "lkBelow",
    });
  }

  function setPlaces(items) {
    placesLayer.clearLayers();
    for (const p of items || []) placesLayer.addLayer(nameMarker(p, "lk-place"));
    showBackgroundState();
    declutterPlaces();
    return true;
  }

  // Names that would cover one already shown (in the gazetteer's order) are hidden at
  // this zoom; zooming in brings them back.
  function declutterPlaces() {
    if (!placesLayer || !map || !map.hasLayer(placesLayer)) return;
    const nodes = [];
    placesLayer.eachLayer(function (layer) {
      const node = layer.getElement() && layer.getElement().firstChild;
      if (node) {
        node.style.visibility = "";
        nodes.push(node);
      }
    });
    const placed = [];
    for (const node of nodes) {
      const r = node.getBoundingClientRect();
      const box = { x: r.left - 2, y: r.top - 1, w: r.width + 4, h: r.height + 2 };
      if (overlapping(placed, box)) node.style.visibility = "hidden";
      else placed.push(box);
    }
  }

  function placesShownCount() {
    let n = 0;
    if (!placesLayer || !map.hasLayer(placesLayer)) return 0;
    placesLayer.eachLayer(function (layer) {
      const node = layer.getElement() && layer.getElement().firstChild;
      if (node && node.style.visibility !== "hidden") n++;
    });
    return n;
  }

  function goTo(lat, lon, zoom, label) {
    if (gotoMarker) map.removeLayer(gotoMarker);
    gotoMarker = nameMarker({ lat: lat, lon: lon, name: label || "" }, "lk-goto");
    gotoMarker.addTo(map);
    map.setView([lat, lon], zoom || Math.max(map.getZoom(), 16), { animate: false });
    return true;
  }

  // With no street map the gazetteer's names stand in for one, and a hint says how to add
  // one; with a tile source both go.
  function showBackgroundState() {
    if (!placesLayer || !map) return;
    const bare = !tileLayer;
    if (bare && !map.hasLayer(placesLayer)) {
      placesLayer.addTo(map);
      declutterPlaces();
    }
    if (!bare && map.hasLayer(placesLayer)) map.removeLayer(placesLayer);
    if (hint) hint.getContainer().hidden = !bare || hintDismissed;
  }

  const BackgroundHint = L.Control.extend({
    onAdd: function () {
      const root = el("div", "lk-hint");
      root.setAttribute("role", "note");
      root.appendChild(
        el("span", "lk-hint-text", "No street map: Background… (above the map) adds one, an MBTiles pack or a tile server.")
      );
      const close = el("a", "lk-hint-close", "×");
      close.href = "#";
      close.title = "Dismiss";
      close.setAttribute("role", "button");
      close.setAttribute("aria-label", "Dismiss");
      L.DomEvent.on(close, "click", function (e) {
        L.DomEvent.preventDefault(e);
        hintDismissed = true;
        root.hidden = true;
      });
      root.appendChild(close);
      L.DomEvent.disableClickPropagation(root);
      return root;
    },
  });

  // ------------------------------------------------------------ commands from Python

  function command(c) {
    let waits = c.op === "only" || c.op === "hideExercise" || c.op === "filter";
    if (c.op === "select" || c.op === "focus") {
      // a marker already on the map is selected at once, even while others are added
      const marker = markers.get(c.id);
      waits = !marker || !!marker.queued;
    }
    if (waits && (adding || addQueue.length)) {
      afterAdd.push(function () {
        command(c);
      });
      return true;
    }
    switch (c.op) {
      case "select":
        return select(c.id, true);
      case "focus":
        return focus(c.id);
      case "draw":
        return startDraw(c.kind);
      case "cancelDraw":
        return cancelDraw();
      case "heat":
        return setHeat(!!c.on);
      case "tiles":
        return setTiles(c.spec);
      case "theme":
        return setTheme(c.cfg);
      case "only":
        return setOnly(c.ids);
      case "hideExercise":
        return setHideExercise(c.on);
      case "fitAlert":
        if (alerts.has(c.id)) map.fitBounds(alerts.get(c.id).layer.getBounds(), { padding: [40, 40] });
        layoutLabels();
        return true;
      case "clearDrawn":
        return drawnLayer.clearLayers();
      case "clearDraft":
        cancelDraw();
        return drawnLayer.clearLayers();
      case "filter":
        return setFilter(c.hidden);
      case "goto":
        return goTo(c.lat, c.lon, c.zoom, c.label);
      case "places":
        return setPlaces(c.items);
      case "measure":
        return c.on ? startMeasure() : endMeasure();
    }
    return false;
  }

  function guarded(fn) {
    return function (json) {
      try {
        fn(JSON.parse(json));
      } catch (err) {
        if (bridge) bridge.error(String((err && err.stack) || err));
      }
    };
  }

  function styleSheet() {
    return `
      .leaflet-container { background: ${cfg.background}; font: 13px/1.4 system-ui, sans-serif; }
      .leaflet-popup-content-wrapper, .leaflet-popup-tip { background: ${cfg.panel}; color: ${cfg.text}; }
      .lk-popup { min-width: 200px; }
      .lk-popup-head { display: flex; align-items: center; gap: 6px; font-weight: 600; }
      .lk-swatch { width: 10px; height: 10px; border-radius: 50%; display: inline-block; }
      .lk-popup-status { margin-left: auto; color: ${cfg.muted}; font-weight: 500; }
      .lk-popup-text { margin: 6px 0; white-space: pre-wrap; overflow-wrap: anywhere; }
      .lk-popup-meta { color: ${cfg.muted}; font-size: 12px; }
      .lk-popup-exercise { margin: -2px 0 6px; padding: 3px 6px; border-radius: 3px; font-weight: 700;
        color: #111; border: 2px dashed #111;
        background: repeating-linear-gradient(135deg, #e3b341 0 8px, #f2d37a 8px 16px); }
      .lk-ex-badge { padding: 0 4px; border-radius: 3px; background: #e3b341; color: #111;
        font-weight: 700; text-transform: none; }
      .lk-cluster-icon { background: none; border: none; }
      .lk-cluster { border-radius: 50%; text-align: center; font-weight: 600; font-size: 12px;
        color: ${cfg.text}; background: ${cfg.panel}e6; border: 2px solid ${cfg.highlight};
        box-shadow: 0 0 0 4px ${cfg.highlight}33; }
      .lk-alert-badge { background: none; border: none; }
      .lk-alert-label { position: absolute; left: 0; bottom: 3px; transform: translateX(-50%);
        width: max-content; max-width: 220px; padding: 2px 7px; border-radius: 4px;
        background: ${cfg.panel}e6; color: ${cfg.text}; border: 1px solid #f0883e;
        font-size: 12px; line-height: 1.3; pointer-events: auto; }
      .lk-alert-label.lk-alert-pending { border-color: #d29922; border-style: dashed; }
      .lk-alert-headline { font-weight: 600; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
      .lk-alert-label:hover { max-width: 320px; z-index: 1; }
      .lk-alert-label:hover .lk-alert-headline { white-space: normal; overflow-wrap: anywhere; }
      .lk-alert-counts { font-variant-numeric: tabular-nums; white-space: nowrap; }
      .lk-alert-label.lk-alert-superseded { border-color: #d29922; border-style: dashed; opacity: 0.8;
        color: ${cfg.muted}; }
      .lk-alert-past-headline { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
      .leaflet-control-scale-line { background: ${cfg.panel}cc; color: ${cfg.text}; border-color: ${cfg.muted}; }
      .leaflet-bar a { background: ${cfg.panel}; color: ${cfg.text}; border-color: ${cfg.grid}; }
      .leaflet-heatmap-layer { pointer-events: none; }
      .leaflet-container [hidden] { display: none !important; }
      .lk-legend, .lk-measure { background: ${cfg.panel}; color: ${cfg.text}; }
      .lk-legend-toggle, .lk-measure a { width: auto !important; padding: 0 8px; font-weight: 600; }
      .lk-legend-body { padding: 4px 10px 8px; max-height: 60vh; overflow-y: auto; width: 280px;
        display: flex; flex-wrap: wrap; column-gap: 6px; }
      .lk-legend-group { flex: 0 0 100%; margin-top: 6px; font-weight: 600; color: ${cfg.muted}; }
      .lk-legend-row { flex: 0 0 100%; display: flex; align-items: center; gap: 6px; min-height: 19px; }
      .lk-legend-row.lk-legend-half { flex: 0 0 calc(50% - 3px); white-space: nowrap; }
      .lk-legend-dot { display: inline-block; box-sizing: border-box; border-radius: 50%; flex: none; }
      .lk-legend-cluster { display: inline-block; min-width: 20px; height: 20px; line-height: 18px; border-radius: 50%;
        text-align: center; font-size: 10px; font-weight: 600; box-sizing: border-box;
        border: 2px solid ${cfg.highlight}; background: ${cfg.panel}; }
      .lk-measure { display: flex; align-items: center; }
      .lk-measure a { display: inline-block !important; height: 30px; line-height: 30px; }
      .lk-measure-readout { padding: 0 8px; white-space: nowrap; font-variant-numeric: tabular-nums; }
      .lk-measure-on .lk-measure-button { background: ${cfg.highlight}; color: #fff; }
      .lk-measuring { cursor: crosshair !important; }
      .lk-place-icon { background: none; border: none; }
      .lk-place, .lk-goto { position: absolute; transform: translate(-50%, -50%); width: max-content; max-width: 180px;
        font-size: 11px; font-weight: 600; color: ${cfg.muted}; text-shadow: 0 0 3px ${cfg.background}, 0 0 3px ${cfg.background};
        pointer-events: none; white-space: nowrap; }
      .lk-goto { color: ${cfg.text}; padding: 1px 6px; border: 2px solid ${cfg.highlight}; border-radius: 10px;
        background: ${cfg.panel}cc; text-shadow: none; }
      .lk-hint { display: flex; gap: 8px; align-items: flex-start; max-width: 250px; padding: 4px 8px; font-size: 12px;
        border-radius: 4px; background: ${cfg.panel}e6; color: ${cfg.text}; border: 1px solid ${cfg.grid}; }
      .lk-hint-close { color: ${cfg.muted}; text-decoration: none; font-size: 16px; line-height: 1; }
    `;
  }

  // The console's theme was switched: new colours for the page's style sheet and the
  // grid, in place (markers keep their category and status colours).
  function setTheme(config) {
    cfg = Object.assign({}, cfg, config);
    if (!themeStyle) {
      themeStyle = document.createElement("style");
      themeStyle.id = "lookout-theme";
      document.head.appendChild(themeStyle);
    }
    themeStyle.textContent = styleSheet();
    if (grid) grid.redraw();
    return true;
  }

  function init(leafletMap, config) {
    map = leafletMap;
    setTheme(config);
    // no base tile layer tells Leaflet the zoom range, and clustering needs it
    map.setMinZoom(3);
    map.setMaxZoom(19);
    // Panes, bottom to top: areas and drawn shapes (overlayPane, 400), the heat map and
    // place labels (lkBelow, 420: never take a click), the report markers' canvas
    // (lkReports, 450), the measure line (lkMeasure, 460: never takes a click), cluster
    // icons (markerPane, 600). A canvas takes every click over its whole extent, not only
    // on what it draws: the markers' canvas must be the topmost one that takes clicks, or
    // an alert area, a drawn shape or the heat map makes single markers unclickable.
    for (const [name, z, clicks] of [["lkBelow", 420, false], ["lkReports", 450, true], ["lkMeasure", 460, false]]) {
      const pane = map.createPane(name);
      pane.style.zIndex = String(z);
      if (!clicks) pane.style.pointerEvents = "none";
    }
    canvas = L.canvas({ padding: 0.5, pane: "lkReports" });
    grid = new NeutralGrid({ zIndex: 0 }).addTo(map);
    placesLayer = L.layerGroup();
    alertLayer = L.featureGroup().addTo(map);
    drawnLayer = L.featureGroup().addTo(map);
    cluster = L.markerClusterGroup({
      chunkedLoading: true,
      chunkInterval: 100,
      chunkDelay: 10,
      animateAddingMarkers: false,
      spiderfyOnMaxZoom: true,
      showCoverageOnHover: false,
      maxClusterRadius: 60,
      iconCreateFunction: clusterIcon,
    }).addTo(map);
    map.on(L.Draw.Event.CREATED, onDrawCreated);
    map.on("click", onMapClick);
    // On the document: a release outside the map (after a drag) ends the hold too. The
    // click event follows mouseup, so adding resumes only after it has been handled; a
    // release the page never sees (the window lost the pointer) ends it after HOLD_MS.
    let holdTimer = null;
    const release = function () {
      clearTimeout(holdTimer);
      if (!pointerHeld) return;
      setTimeout(function () {
        pointerHeld = false;
        pump();
      }, 0);
    };
    map.getContainer().addEventListener("mousedown", function () {
      pointerHeld = true;
      clearTimeout(holdTimer);
      holdTimer = setTimeout(release, HOLD_MS);
    }, true);
    document.addEventListener("mouseup", release, true);
    window.addEventListener("blur", release);
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && measure.on) endMeasure();
    });
    legend = new Legend({ position: "bottomright" }).addTo(map);
    measureControl = new MeasureControl({ position: "topleft" }).addTo(map);
    hint = new BackgroundHint({ position: "bottomleft" }).addTo(map);
    showBackgroundState();
    map.on("zoomend moveend resize viewreset", layoutLabels);
    map.on("zoomend viewreset", declutterPlaces);
    setInterval(function () {
      for (const m of markers.values()) m.setStyle(styleFor(m.report));
    }, 60000);
    new QWebChannel(qt.webChannelTransport, function (channel) {
      bridge = channel.objects.bridge;
      bridge.batch.connect(guarded(apply));
      bridge.command.connect(guarded(command));
      bridge.ready();
      // where the officer is looking, for File -> Export map view (west, south, east, north)
      function sendView() {
        try {
          const b = map.getBounds();
          bridge.viewChanged(JSON.stringify([b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]));
        } catch (err) {
          bridge.error(String((err && err.stack) || err));
        }
      }
      map.on("moveend zoomend resize", sendView);
      sendView();
    });
  }

  function stats() {
    return {
      markers: markers.size,
      clustered: cluster ? cluster.getLayers().length : 0,
      applied: appliedSeq,
      received: receivedSeq,
      alerts: alerts.size,
      superseded: Array.from(alerts.values()).reduce(function (n, a) {
        return n + a.past.length;
      }, 0),
      only: onlyIds ? onlyIds.size : null,
      hideExercise: hideExercise,
      heat: !!heatLayer,
      tiles: tileLayer ? tileLayer._url : "",
      selected: selectedId,
      filtered: filtered.size,
      places: placesLayer ? placesLayer.getLayers().length : 0,
      placesShown: !!(placesLayer && map.hasLayer(placesLayer)),
      placesVisible: placesLayer ? placesShownCount() : 0,
      hint: !!(hint && !hint.getContainer().hidden),
      drawn: drawnLayer ? drawnLayer.getLayers().length : 0,
      drawing: !!drawer,
      measuring: measure.on,
      held: pointerHeld,
    };
  }

  return {
    init: init,
    apply: apply,
    command: command,
    select: select,
    focus: focus,
    startDraw: startDraw,
    areaDrawn: areaDrawn,
    featureOf: featureOf,
    setHeat: setHeat,
    setTiles: setTiles,
    setTheme: setTheme,
    stats: stats,
    markerFor: function (id) {
      return markers.get(id) || null;
    },
    alertLabelText: function (id) {
      return alerts.has(id) ? alerts.get(id).label.textContent : null;
    },
    supersededLabels: function (id) {
      return alerts.has(id) ? alerts.get(id).past.map((p) => p.label.textContent) : null;
    },
    labelBoxes: labelBoxes,
    layoutLabels: layoutLabels,
    setOnly: setOnly,
    legendTexts: legendTexts,
    measureText: measureText,
    startMeasure: startMeasure,
    endMeasure: endMeasure,
    addMeasurePoint: addMeasurePoint,
    cluster: function () {
      return cluster;
    },
    map: function () {
      return map;
    },
  };
})();

window.lookoutSetTheme = window.LookoutMap.setTheme;
