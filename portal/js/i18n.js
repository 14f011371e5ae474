// Every string the citizen sees comes from one catalogue per language (/i18n/xx.json).
// The language is the browser's first preference we have, or the one last chosen here.

export const LANGUAGES = ["en", "cy"];
const STORE = "lookout.lang";

let current = "en";
let strings = {};
let english = {};
const listeners = [];

async function fetchCatalogue(lang) {
  const response = await fetch(`/i18n/${lang}.json`, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`catalogue ${lang}: HTTP ${response.status}`);
  return response.json();
}

export function chosenLanguage() {
  const stored = localStorage.getItem(STORE);
  if (LANGUAGES.includes(stored)) return stored;
  for (const tag of navigator.languages ?? [navigator.language]) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (LANGUAGES.includes(base)) return base;
  }
  return "en";
}

export async function setLanguage(lang, remember = false) {
  if (!LANGUAGES.includes(lang)) lang = "en";
  if (Object.keys(english).length === 0) english = await fetchCatalogue("en");
  strings = lang === "en" ? english : await fetchCatalogue(lang);
  current = lang;
  if (remember) localStorage.setItem(STORE, lang);
  document.documentElement.lang = lang;
  apply(document);
  for (const fn of listeners) fn(lang);
}

export function language() {
  return current;
}

export function onLanguageChange(fn) {
  listeners.push(fn);
}

/** The browser's own locale when it is a form of the chosen language (en-GB dates for
 * en), else the language itself: for dates and plural rules. */
export function locale() {
  return (navigator.languages ?? []).find((tag) => String(tag).split("-")[0] === current) ?? current;
}

/** `key.one`, `key.other`... by the language's plural rules, `key.other` when missing. */
export function plural(key, count, vars = {}) {
  const form = `${key}.${new Intl.PluralRules(locale()).select(count)}`;
  return t(has(form) ? form : `${key}.other`, { count, ...vars });
}

export function has(key) {
  return key in strings || key in english;
}

/** The text for `key`, with `{name}` filled from `vars` (values inserted as text). */
export function t(key, vars = {}) {
  const template = strings[key] ?? english[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}

/** A label for a value the relay sent (a category, a status): the catalogue's word for
 * it, or the value itself, as text, when the catalogue does not know it. */
export function label(prefix, value) {
  return has(prefix + value) ? t(prefix + value) : String(value);
}

export function apply(root) {
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of root.querySelectorAll("[data-i18n-aria-label]")) {
    node.setAttribute("aria-label", t(node.dataset.i18nAriaLabel));
  }
}
