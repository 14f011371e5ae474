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
  let themeStyle = null; // the <style> element built from cfg's colours
  let selectedId = null;
  const markers = new Map(); // report id -> L.CircleMarker (marker.report holds the data)
  const alerts = new Map(); // alert id -> {layer, badge, label, past: [{layer, badge, label}]}
  let onlyIds = null; // a Set of the report ids to show (the list's narrowing), null = all
  let hideExercise = false; // exercise reports (r.ex) left off the map
  const EXERCISE_RING = "#e3b341"; // with the "EX" badge and words in the popup, never alone
  const addQueue = []; // {layers, seq} waiting for the cluster group
  let adding = false;
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
    head.appendChild(el("span", "lk-popup-cat", (cfg.categoryLabels || {})[r.cat] || words(r.cat)));
    head.appendChild(el("span", "lk-popup-status", words(r.status)));
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
    marker.bindPopup(popupFor /* DOM node, textContent only */, { maxWidth: 320, autoPanPadding: [20, 20] });
    marker.on("click", function () {
      select(r.id, false);
      if (bridge) bridge.reportClicked(marker.report.id);
    });
    return marker;
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
    for (const r of batch.reports || []) {
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
      if (marker.isPopupOpen()) marker.setPopupContent(popupFor);
    }
    for (const id of batch.removeReports || []) removeReport(id);
    for (const a of batch.alerts || []) showAlert(a, false);
    for (const id of batch.hideAlerts || []) hideAlert(id);
    if ((batch.alerts || []).length || (batch.hideAlerts || []).length) layoutLabels();
    if ((batch.reports || []).length || (batch.removeReports || []).length) heatDirty = true;
    addQueue.push({ layers: fresh, seq: batch.seq || 0 });
    pump();
  }

  // A report a citizen erased: its marker, popup and selection go from the page.
  function removeReport(id) {
    const marker = markers.get(id);
    if (!marker) return;
    marker.removed = true; // a marker still waiting in addQueue is not added after all
    if (marker.isPopupOpen()) marker.closePopup();
    if (cluster.hasLayer(marker)) cluster.removeLayer(marker);
    markers.delete(id);
    if (selectedId === id) selectedId = null;
  }

  function pump() {
    if (adding) return;
    const job = addQueue.shift();
    if (!job) {
      finish();
      return;
    }
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
    return !onlyIds || onlyIds.has(marker.report.id);
  }

  // Exercise reports leave the map (or come back); later ones are held to the same.
  function setHideExercise(on) {
    hideExercise = !!on;
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
    if (remove.length) cluster.removeLayers(remove);
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
    const latlng = marker.getLatLng();
    const open = function () {
      marker.bringToFront();
      marker.openPopup();
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
      heatLayer = L.heatLayer(heatPoints(), { radius: 22, blur: 18, minOpacity: 0.25 });
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
      tileLayer = L.tileLayer(spec.url, { maxZoom: 19, maxNativeZoom: 19, subdomains: "abc" });
      tileLayer.addTo(map);
    }
  }

  // ------------------------------------------------------------ commands from Python

  function command(c) {
    const waits = c.op === "select" || c.op === "focus" || c.op === "only" || c.op === "hideExercise";
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
      .lk-popup-head { display: flex; align-items: center; gap: 6px; font-weight: 600; text-transform: capitalize; }
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
    canvas = L.canvas({ padding: 0.5 });
    grid = new NeutralGrid({ zIndex: 0 }).addTo(map);
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
    map.on("zoomend moveend resize viewreset", layoutLabels);
    setInterval(function () {
      for (const m of markers.values()) m.setStyle(styleFor(m.report));
    }, 60000);
    new QWebChannel(qt.webChannelTransport, function (channel) {
      bridge = channel.objects.bridge;
      bridge.batch.connect(guarded(apply));
      bridge.command.connect(guarded(command));
      bridge.ready();
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
    map: function () {
      return map;
    },
  };
})();

window.lookoutSetTheme = window.LookoutMap.setTheme;
