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
} & {
  [handler: string]: unknown;
} & ThisType<SfPageInstance<Data> & Record<string, any>>;

interface SfAppOptions {
  onLaunch?(options: Record<string, unknown>): void;
  onShow?(): void;
  onHide?(): void;
  [key: string]: unknown;
}

/** Registers the page (once, in logic.js). */
declare function Page<Data extends Record<string, unknown>>(options: SfPageOptions<Data>): void;
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
  /** `user.getProfile` (`user:readProfile`). */
  getUserProfile(): { name: string };
  /** Any host API by name: its JSON answer; throws an `SfError`. */
  call(api: string, request?: unknown): any;
};
