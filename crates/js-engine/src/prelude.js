// The mini-app API of the JavaScript engine (runtime "js@1"), evaluated before the app's
// logic.js. Everything here runs inside the app's own sandbox: it holds no authority beyond
// the gateway calls the app could make itself, so an app that tampers with it harms only
// itself. `native` is the engine's one door to the host (`call`) and a body reader.
(function (native) {
  'use strict';

  const freeze = Object.freeze;
  const hasOwn = (o, k) => Object.prototype.hasOwnProperty.call(o, k);

  /** Calls a host API with a JSON request; its JSON answer, or a thrown Error with `code`. */
  function call(api, request) {
    const text = native.call(api, request === undefined ? '' : JSON.stringify(request));
    return text === '' ? null : JSON.parse(text);
  }

  // console → the host's log (escaped there, cut at 4,096 characters).
  function show(value) {
    if (typeof value === 'string') return value;
    if (value instanceof Error) return String(value);
    try {
      const s = JSON.stringify(value);
      return s === undefined ? String(value) : s;
    } catch (e) {
      return String(value);
    }
  }
  function logger(level) {
    return function (...args) {
      try {
        call('log', { level, message: args.map(show).join(' ').slice(0, 4096) });
      } catch (e) {
        // A log that cannot be written (rate limited) is dropped, never thrown at the app.
      }
    };
  }
  globalThis.console = freeze({
    log: logger('info'),
    info: logger('info'),
    warn: logger('warn'),
    error: logger('error'),
    debug: logger('debug'),
  });

  // Randomness comes from the host (random.bytes), 1,024 bytes at a time.
  let pool = [];
  let at = 0;
  function randomByte() {
    if (at >= pool.length) {
      const hex = call('random.bytes', { len: 1024 }).hex;
      pool = [];
      for (let i = 0; i < hex.length; i += 2) pool.push(parseInt(hex.substr(i, 2), 16));
      at = 0;
    }
    return pool[at++];
  }
  Math.random = function random() {
    // 7 bytes (56 bits) reduced to the 53 a double holds: uniform, 2^56 being a multiple of 2^53.
    let n = 0;
    for (let i = 0; i < 7; i++) n = n * 256 + randomByte();
    return (n % 9007199254740992) / 9007199254740992;
  };
  globalThis.crypto = freeze({
    getRandomValues(array) {
      const integer =
        array instanceof Int8Array || array instanceof Uint8Array ||
        array instanceof Uint8ClampedArray || array instanceof Int16Array ||
        array instanceof Uint16Array || array instanceof Int32Array ||
        array instanceof Uint32Array || array instanceof BigInt64Array ||
        array instanceof BigUint64Array;
      if (!integer) throw new TypeError('crypto.getRandomValues takes an integer typed array');
      if (array.byteLength > 65536) {
        throw new RangeError('crypto.getRandomValues fills at most 65,536 bytes at a time');
      }
      const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
      for (let i = 0; i < bytes.length; i++) bytes[i] = randomByte();
      return array;
    },
  });

  // setData paths: "a.b", "list[2].done" (WeChat's brackets) or "list.2.done" (sandframe's).
  const REFUSED_KEYS = ['__proto__', 'constructor', 'prototype'];
  function pathOf(key) {
    const path = String(key).replace(/\[(\d+)\]/g, '.$1');
    const parts = path.split('.');
    for (const p of parts) {
      if (p === '') throw new TypeError(`setData: ${JSON.stringify(key)} has an empty path segment`);
      if (REFUSED_KEYS.includes(p)) throw new TypeError(`setData: the key ${JSON.stringify(p)} is refused`);
    }
    return { path, parts };
  }
  function place(data, parts, value) {
    let node = data;
    for (let i = 0; i < parts.length - 1; i++) {
      const p = parts[i];
      if (node[p] === null || typeof node[p] !== 'object') node[p] = /^\d+$/.test(parts[i + 1]) ? [] : {};
      node = node[p];
    }
    node[parts[parts.length - 1]] = value;
  }
  // The data as JSON carries it (what the render side gets): no functions, no undefined.
  const plain = (value) => (value === undefined ? null : JSON.parse(JSON.stringify(value) ?? 'null'));

  function setData(patch, callback) {
    if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) {
      throw new TypeError('setData takes an object of path: value');
    }
    const flat = {};
    for (const key of Object.keys(patch)) {
      const { path, parts } = pathOf(key);
      const value = plain(patch[key]);
      place(this.data, parts, value);
      flat[path] = value;
    }
    // A page under the top one keeps its data; it is shown again by navigateBack.
    if (this === top()) call('ui.setData', flat);
    if (typeof callback === 'function') callback();
  }

  let app = null;
  globalThis.App = function App(options) {
    if (app !== null) throw new Error('App() is called once, in logic.js');
    app = Object.assign({}, options || {});
  };
  globalThis.getApp = () => app;

  // Pages: `Page(options)` is the entry view's (the first the manifest lists),
  // `Page('about', options)` another view's. Each navigateTo makes a new instance of its
  // view's page; the stack holds at most MAX_PAGES, the top one shown.
  const MAX_PAGES = 10;
  const pages = new Map();
  const stack = [];
  let views = null; // the manifest's views, entry first (app.views), read at start
  globalThis.Page = function Page(name, options) {
    if (typeof name !== 'string') {
      options = name;
      name = '';
    }
    if (pages.has(name)) {
      throw new Error(name === '' ? 'Page(options) is called once, for the entry view' : `Page(${JSON.stringify(name)}, options) is called once`);
    }
    pages.set(name, Object.assign({}, options || {}));
  };
  globalThis.getCurrentPages = () => stack.slice();
  const top = () => (stack.length === 0 ? null : stack[stack.length - 1]);

  /** A new page for `view`: its `Page` options' copy, or a page with no handlers. */
  function instance(view) {
    const options = pages.get(view) || (view === views[0] ? pages.get('') : undefined) || {};
    const page = Object.assign({}, options);
    page.data = plain(options.data || {});
    page.route = view;
    page.setData = setData;
    return page;
  }
  function hook(target, name, arg) {
    if (target !== null && typeof target[name] === 'function') target[name].call(target, arg);
  }

  // Requests in flight (net.fetch ids) and capability requests waiting for consent.
  const requests = new Map();
  const consents = new Map();

  function settle(entry, ok, value) {
    const o = entry.options;
    try {
      if (ok && typeof o.success === 'function') o.success(value);
      if (!ok && typeof o.fail === 'function') o.fail(value);
      if (typeof o.complete === 'function') o.complete(value);
    } finally {
      (ok ? entry.resolve : entry.reject)(value);
    }
  }

  function answered(detail) {
    const entry = requests.get(detail.id);
    if (entry === undefined) return;
    requests.delete(detail.id);
    if (detail.error) {
      const e = new Error(detail.error.message);
      e.code = detail.error.code;
      e.errMsg = `request:fail ${detail.error.message}`;
      settle(entry, false, e);
      return;
    }
    let data = native.body(detail.id);
    const type = (detail.headers && detail.headers['content-type']) || '';
    if (entry.options.dataType !== 'text' && (entry.options.dataType === 'json' || type.includes('json'))) {
      try {
        data = JSON.parse(data);
      } catch (e) {
        // WeChat hands over the text when it is not JSON after all.
      }
    }
    settle(entry, true, { statusCode: detail.status, header: detail.headers || {}, data });
  }

  function request(options) {
    const o = Object.assign({}, options || {});
    const headers = Object.assign({}, o.header || {});
    const req = { url: String(o.url), method: String(o.method || 'GET').toUpperCase(), headers };
    if (o.data !== undefined && o.data !== null) {
      if (typeof o.data === 'string') {
        req.body = o.data;
      } else {
        req.body = JSON.stringify(o.data);
        const named = Object.keys(headers).some((h) => h.toLowerCase() === 'content-type');
        if (!named) headers['content-type'] = 'application/json';
      }
    }
    return new Promise((resolve, reject) => {
      const entry = { options: o, resolve, reject };
      let id;
      try {
        id = call('net.fetch', req).id;
      } catch (e) {
        e.errMsg = `request:fail ${e.message}`;
        settle(entry, false, e);
        return;
      }
      requests.set(id, entry);
    });
  }

  function requestCapability(capability) {
    return new Promise((resolve, reject) => {
      let answer;
      try {
        answer = call('capability.request', { capability: String(capability) });
      } catch (e) {
        reject(e);
        return;
      }
      if (answer.status === 'pending') {
        const waiting = consents.get(answer.capability) || [];
        waiting.push(resolve);
        consents.set(answer.capability, waiting);
      } else {
        resolve({ capability: answer.capability, granted: answer.status === 'granted' });
      }
    });
  }

  function consented(detail) {
    const waiting = consents.get(detail.capability) || [];
    consents.delete(detail.capability);
    for (const resolve of waiting) resolve({ capability: detail.capability, granted: detail.granted === true });
  }

  // Navigation between the views the manifest lists (ui.showView switches the render side;
  // each page's data lives here and is sent again when its page is shown again). A refusal
  // (no such view, too many pages, nowhere to go back to) goes to `fail` or rejects; an
  // exception in the author's own hooks is thrown as in any handler.
  function navigation(what, options, check, perform) {
    const o = Object.assign({}, options || {});
    const callbacks = typeof o.success === 'function' || typeof o.fail === 'function' || typeof o.complete === 'function';
    let planned;
    try {
      // Not from logic.js's top level or App's onLaunch: the entry page is not there yet.
      if (stack.length === 0) throw new Error(`${what} runs once the entry page is loaded (in its onLoad, onShow or a handler)`);
      planned = check(o);
      call('ui.showView', { view: planned.view });
    } catch (e) {
      const error = e instanceof Error ? e : new Error(String(e));
      error.errMsg = `${what}:fail ${error.message}`;
      if (!callbacks) return Promise.reject(error);
      if (typeof o.fail === 'function') o.fail(error);
      if (typeof o.complete === 'function') o.complete(error);
      return undefined;
    }
    perform(planned);
    const done = { errMsg: `${what}:ok` };
    if (!callbacks) return Promise.resolve(done);
    if (typeof o.success === 'function') o.success(done);
    if (typeof o.complete === 'function') o.complete(done);
    return undefined;
  }

  function decode(text) {
    try {
      return decodeURIComponent(text.replace(/\+/g, ' '));
    } catch (e) {
      return text;
    }
  }

  /** `about`, `/about` or `about?id=3&tab=x`: the view and its query (onLoad's argument). */
  function route(url) {
    const text = String(url);
    const q = text.indexOf('?');
    const view = (q < 0 ? text : text.slice(0, q)).replace(/^\/+/, '');
    const query = {};
    if (q >= 0) {
      for (const part of text.slice(q + 1).split('&')) {
        if (part === '') continue;
        const eq = part.indexOf('=');
        const key = decode(eq < 0 ? part : part.slice(0, eq));
        if (REFUSED_KEYS.includes(key)) continue;
        query[key] = decode(eq < 0 ? '' : part.slice(eq + 1));
      }
    }
    return { view, query };
  }

  function present(page, query, load) {
    stack.push(page);
    if (Object.keys(page.data).length > 0) call('ui.setData', page.data);
    if (load) hook(page, 'onLoad', query);
    hook(page, 'onShow', {});
  }

  function navigateTo(options) {
    const o = typeof options === 'string' ? { url: options } : options;
    return navigation('navigateTo', o, (opts) => {
      const { view, query } = route(opts.url);
      if (!views.includes(view)) {
        throw new Error(`the manifest lists no view named ${JSON.stringify(view)}; it lists ${views.join(', ')}`);
      }
      if (stack.length >= MAX_PAGES) throw new Error(`at most ${MAX_PAGES} pages are open at once; navigateBack first`);
      return { view, query };
    }, ({ view, query }) => {
      hook(top(), 'onHide', {});
      present(instance(view), query, true);
    });
  }

  function navigateBack(options) {
    return navigation('navigateBack', options, (opts) => {
      if (stack.length < 2) throw new Error('there is no page to go back to');
      const delta = Math.max(1, Math.floor(Number(opts.delta) || 1));
      const n = Math.min(delta, stack.length - 1);
      return { view: stack[stack.length - 1 - n].route, n };
    }, ({ n }) => {
      const gone = stack.splice(stack.length - n, n);
      for (let i = gone.length - 1; i >= 0; i--) hook(gone[i], 'onUnload', {});
      present(stack.pop(), {}, false);
    });
  }

  const storage = freeze({
    get(key) {
      const v = call('storage.get', { key: String(key) }).value;
      return v === null ? undefined : v;
    },
    set(key, value) {
      call('storage.set', { key: String(key), value: plain(value) });
    },
    remove(key) {
      return call('storage.remove', { key: String(key) }).removed;
    },
    keys() {
      return call('storage.list', {}).keys;
    },
  });

  globalThis.sf = freeze({
    storage,
    getStorageSync: storage.get,
    setStorageSync: storage.set,
    removeStorageSync: storage.remove,
    request,
    requestCapability,
    navigateTo,
    navigateBack,
    getUserProfile: () => call('user.getProfile', {}),
    call,
  });

  // Code comes only from the package: no eval, no Function constructors (parity with WeChat;
  // the sandbox, not this, is what keeps the host safe).
  function refused() {
    throw new EvalError('code from strings is refused in a mini-app: eval and the Function constructors are off');
  }
  const constructors = [
    Function,
    Object.getPrototypeOf(async function () {}).constructor,
    Object.getPrototypeOf(function* () {}).constructor,
    Object.getPrototypeOf(async function* () {}).constructor,
  ];
  for (const F of constructors) {
    Object.defineProperty(F.prototype, 'constructor', { value: refused, writable: false, configurable: false });
  }
  Object.defineProperty(refused, 'prototype', { value: Function.prototype });
  Object.defineProperty(globalThis, 'Function', { value: refused, writable: false, configurable: false });
  Object.defineProperty(globalThis, 'eval', { value: refused, writable: false, configurable: false });

  // What the engine calls: start after logic.js ran, and each event.
  return freeze({
    start() {
      views = call('app.views', {}).views;
      for (const name of pages.keys()) {
        if (name !== '' && !views.includes(name)) {
          throw new Error(`Page(${JSON.stringify(name)}, options): the manifest lists no view by that name; it lists ${views.join(', ')}`);
        }
      }
      if (pages.has('') && pages.has(views[0])) {
        throw new Error(`the entry view ${JSON.stringify(views[0])} has two pages: Page(options) and Page(${JSON.stringify(views[0])}, options)`);
      }
      hook(app, 'onLaunch', {});
      // The page's initial data renders first, then onLoad may change it (as in WeChat).
      const entry = views.length > 0 ? instance(views[0]) : null;
      if (entry !== null) {
        stack.push(entry);
        if (Object.keys(entry.data).length > 0) call('ui.setData', entry.data);
        hook(entry, 'onLoad', {});
      }
      hook(app, 'onShow', {});
      hook(entry, 'onShow', {});
    },
    dispatch(handler, detail) {
      switch (handler) {
        case 'onShow':
        case 'onHide':
          hook(app, handler, {});
          hook(top(), handler, {});
          return;
        case 'sf.fetch':
          answered(detail);
          return;
        case 'sf.consent':
          consented(detail);
          return;
        default:
          break;
      }
      const page = top();
      if (page === null || !hasOwn(page, handler) || typeof page[handler] !== 'function') {
        throw new TypeError(`the page has no handler named ${JSON.stringify(handler)}`);
      }
      const d = detail === null || typeof detail !== 'object' ? {} : detail;
      const dataset = {};
      if (d.index !== undefined) dataset.index = d.index;
      if (d.key !== undefined) dataset.key = d.key;
      page[handler]({ type: handler, detail: d, currentTarget: { dataset }, target: { dataset } });
    },
  });
});
