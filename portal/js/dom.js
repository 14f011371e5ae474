// Building the page's nodes. Text goes in through textContent only: nothing here parses
// HTML, so a report, a status or a name from the relay shows exactly as written.

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === "text") node.textContent = value;
    else if (name === "className") node.className = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child); // strings become text nodes
  return node;
}

export function byId(id) {
  const node = document.getElementById(id);
  if (node === null) throw new Error(`the page has no #${id}`);
  return node;
}

/** A message line: its text, and whether it is good or bad news (colour and weight). */
export function say(node, text, tone = "") {
  node.textContent = text;
  node.className = tone ? `msg ${tone}` : "msg";
}
