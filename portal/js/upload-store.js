// Uploads waiting in this browser, kept in IndexedDB so a reload, a closed tab or a lost
// link never loses a photo: one record per file, keyed by the report's client_ref and the
// file's SHA-256, holding the file's bytes (a Blob) until the relay has all of them.
// Once stored on the relay the bytes go and a small "done" record stays for "Your reports".
//
// record: {ref, sha, mime, size, name, blob|null, reportId|null,
//          state: "waiting" | "done" | "failed", received, error|null, order: [ms, index]}

const DB = "lookout-uploads";
const FILES = "files";

let opened = null;

function db() {
  if (opened === null) {
    opened = new Promise((resolve, reject) => {
      const req = indexedDB.open(DB, 1);
      req.onupgradeneeded = () => req.result.createObjectStore(FILES, { keyPath: ["ref", "sha"] });
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    opened.catch(() => {
      opened = null;
    });
  }
  return opened;
}

async function tx(mode, work) {
  const conn = await db();
  return new Promise((resolve, reject) => {
    const t = conn.transaction(FILES, mode);
    const store = t.objectStore(FILES);
    let result;
    Promise.resolve(work(store)).then((r) => {
      result = r;
    });
    t.oncomplete = () => resolve(result);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error);
  });
}

function asPromise(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

export function putFiles(records) {
  return tx("readwrite", (store) => {
    for (const r of records) store.put(r);
  });
}

export function allFiles() {
  return tx("readonly", (store) => asPromise(store.getAll()));
}

/** Change fields of one record (no-op when it is gone, e.g. forgotten meanwhile). */
export function updateFile(ref, sha, patch) {
  return tx("readwrite", (store) => {
    const req = store.get([ref, sha]);
    req.onsuccess = () => {
      if (req.result !== undefined) store.put({ ...req.result, ...patch });
    };
  });
}

export function deleteReport(ref) {
  return tx("readwrite", (store) => store.delete(IDBKeyRange.bound([ref], [ref, []])));
}

/** Everything this browser holds for uploads, gone ("Forget this device"). */
export function forgetUploads() {
  if (opened !== null) opened.then((conn) => conn.close()).catch(() => {});
  opened = null;
  indexedDB.deleteDatabase(DB);
}
