// Types for sandframe's JavaScript mini-app API (runtime = "js@1"; docs/js.md). Reference it
// from a mini-app's logic.js to have an editor or `tsc --checkJs` check calls:
//   /// <reference path="path/to/sandframe.d.ts" />
// CI type-checks the JS examples against it (`tsc --noEmit --checkJs`).

/** The `detail` and dataset of a surface event (a tap, an input). */
interface SfEvent<Detail = SfEventDetail> {
  /** The handler's name, as bound in the template. */
  type: string;
  /** An input's `value`; in a list, the item's `index` and `key`. */
  detail: Detail;
  currentTarget: { dataset: { index?: number; key?: string } };
  target: { dataset: { index?: number; key?: string } };
}

interface SfEventDetail {
  value?: string;
  index?: number;
  key?: string;
  [name: string]: unknown;
}

/** JSON as the render side and storage carry it. */
type SfJson = null | boolean | number | string | SfJson[] | { [key: string]: SfJson };

interface SfPageInstance<Data extends Record<string, unknown>> {
  /** The page's data, updated at once by `setData`. */
  data: Data;
  /** The view this page shows (a name the manifest's `views` lists). */
  route: string;
  /**
   * Sends a patch to the view: paths as `"a.b"`, `"list[2].done"` or `"list.2.done"`.
   * Values travel as JSON. `__proto__`, `constructor` and `prototype` are refused as keys.
   */
  setData(patch: Partial<Data> | Record<string, unknown>, callback?: () => void): void;
}

type SfPageOptions<Data extends Record<string, unknown>> = {
  data?: Data;
  onLoad?(this: SfPageInstance<Data>, query: Record<string, string>): void;
  onShow?(this: SfPageInstance<Data>): void;
  onHide?(this: SfPageInstance<Data>): void;
  /** The page leaves the stack (`navigateBack`). */
  onUnload?(this: SfPageInstance<Data>): void;
} & {
  [handler: string]: unknown;
} & ThisType<SfPageInstance<Data> & Record<string, any>>;

interface SfAppOptions {
  onLaunch?(options: Record<string, unknown>): void;
  onShow?(): void;
  onHide?(): void;
  [key: string]: unknown;
}

/** Registers the entry view's page (the first view the manifest lists), once. */
declare function Page<Data extends Record<string, unknown>>(options: SfPageOptions<Data>): void;
/** Registers the page of the view named `view` (one the manifest lists), once. */
declare function Page<Data extends Record<string, unknown>>(view: string, options: SfPageOptions<Data>): void;
/** Registers the app's lifecycle hooks (at most once). */
declare function App(options: SfAppOptions): void;
declare function getApp(): SfAppOptions | null;
declare function getCurrentPages(): Array<SfPageInstance<Record<string, unknown>>>;

/** An error from a host API: `code` names the ABI error (`denied`, `rate_limited`, …). */
interface SfError extends Error {
  code: "denied" | "rate_limited" | "too_large" | "bad_request" | "unknown_api" | "unavailable" | "quota" | "internal";
  errMsg?: string;
}

interface SfRequestOptions {
  url: string;
  method?: "GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "PATCH" | "OPTIONS";
  header?: Record<string, string>;
  /** A string is sent as it is; anything else as JSON (with a JSON content type). */
  data?: unknown;
  /** "json" parses the answer; "text" keeps it as text. Default: by its content type. */
  dataType?: "json" | "text";
  success?(response: SfResponse): void;
  fail?(error: SfError): void;
  complete?(result: SfResponse | SfError): void;
}

interface SfResponse {
  statusCode: number;
  header: Record<string, string>;
  data: any;
}

/** A navigation's answer: `errMsg` is `"navigateTo:ok"` or names why it was refused. */
interface SfNavigation {
  errMsg: string;
}

interface SfNavigationCallbacks {
  /** With any callback given, no Promise is returned. */
  success?(result: SfNavigation): void;
  fail?(error: Error & SfNavigation): void;
  complete?(result: SfNavigation): void;
}

interface SfNavigateToOptions extends SfNavigationCallbacks {
  /** A view the manifest lists, with an optional query for its `onLoad`: `"about?id=3"`. */
  url: string;
}

interface SfNavigateBackOptions extends SfNavigationCallbacks {
  /** How many pages to close (default 1; never the entry page). */
  delta?: number;
}

interface SfStorage {
  get(key: string): SfJson | undefined;
  set(key: string, value: unknown): void;
  remove(key: string): boolean;
  keys(): string[];
}

declare const sf: {
  /** The app's own storage (`storage:local`), synchronous. */
  readonly storage: SfStorage;
  getStorageSync(key: string): SfJson | undefined;
  setStorageSync(key: string, value: unknown): void;
  removeStorageSync(key: string): boolean;
  /** `net.fetch` to an origin the manifest declares and the person granted. */
  request(options: SfRequestOptions): Promise<SfResponse>;
  /** Asks for a capability the manifest declares; settles when it is answered. */
  requestCapability(capability: string): Promise<{ capability: string; granted: boolean }>;
  /**
   * Opens a view the manifest lists on top of the current page (at most 10 pages deep); the
   * current page's `onHide` runs, then the new page's `onLoad(query)` and `onShow`.
   */
  navigateTo(options: string | SfNavigateToOptions & { success?: undefined; fail?: undefined; complete?: undefined }): Promise<SfNavigation>;
  navigateTo(options: SfNavigateToOptions): void;
  /** Closes the top page (or `delta` pages) and shows the one below with its data. */
  navigateBack(options?: SfNavigateBackOptions & { success?: undefined; fail?: undefined; complete?: undefined }): Promise<SfNavigation>;
  navigateBack(options: SfNavigateBackOptions): void;
  /** `user.getProfile` (`user:readProfile`). */
  getUserProfile(): { name: string };
  /** Any host API by name: its JSON answer; throws an `SfError`. */
  call(api: string, request?: unknown): any;
};

/** The host's `log` (each message escaped there and cut at 4,096 characters). */
declare const console: {
  log(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
  debug(...args: unknown[]): void;
};

/** `random.bytes`: fills an integer typed array of at most 65,536 bytes. */
declare const crypto: {
  getRandomValues<
    T extends Int8Array | Uint8Array | Uint8ClampedArray | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array,
  >(array: T): T;
};
