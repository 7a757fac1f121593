/**
 * wxlogin's mini-program client: `wx.login` → `POST /v1/login` → a token kept in storage and
 * sent as `Authorization: Bearer …` by a `wx.request` wrapper that logs in again (once) when the
 * server says the token is dead.
 *
 * The rules it keeps, and why:
 *
 * - **One login at a time.** Every path that needs a token (login, refresh, re-login after a
 *   401) goes through one in-flight promise: twenty requests on a cold start share one
 *   `wx.login`, and concurrent 401s cause one re-login. A second `wx.login` could rotate the
 *   user's session_key under encrypted data the app is holding.
 * - **The phone's clock is a hint.** The stored deadline (receipt + `expires_in` − 60 s) only
 *   saves a round trip; the server's 401 with `WWW-Authenticate: Bearer error="invalid_token"`
 *   (or body code `invalid_token` / `missing_token`) is what counts. Any other 401 belongs to
 *   the app's backend and is returned as is. Nothing else is retried.
 * - **Never log in between fetching encrypted data and sending it.** With data already in hand
 *   the stored token is used even past its local deadline; only the server's 401 causes a
 *   login, and then the server's previous-key window covers the replay. Given a function that
 *   fetches the data, the client first makes sure of the token and of `wx.checkSession` (a dead
 *   session_key cannot decrypt anything), and only then fetches.
 * - **Storage is best effort.** Only the token(s) and their deadlines are stored; a storage
 *   failure is reported to `onError` and the client carries on from memory. Nothing is logged.
 *
 * In JWT mode (the login answer carries `access_token`) the access JWT is sent, refreshed
 * single-flight before its deadline and on a 401, and a failed refresh falls back to a login.
 */

import type { ServerErrorCode } from './error-codes';

export type { ServerErrorCode } from './error-codes';

/** Errors the client raises itself, beside the server's codes. */
export type ClientErrorCode =
  /** `wx.request` failed: no answer from the server (`fail`, not an HTTP status). */
  | 'network_error'
  /** `wx.login` failed. */
  | 'wx_login_failed'
  /** The getPhoneNumber button gave no number (the user declined, or the app may not ask). */
  | 'phone_denied'
  /** `wx.setStorageSync` / `getStorageSync` threw. Reported to `onError` only, never thrown. */
  | 'storage_failed'
  /** An error answer without wxlogin's error body (e.g. from the app's own backend). */
  | 'http_error';

export type ErrorCode = ServerErrorCode | ClientErrorCode;

export class WxLoginError extends Error {
  /** Set on `decrypt_failed`: the data in hand cannot be recovered. The client has logged in
   * again; ask the user to tap the button again. */
  tapAgain = false;

  constructor(
    public code: ErrorCode,
    message: string,
    /** The HTTP status, when the error is an answer. */
    public status?: number,
    /** The server's request id (`error.request_id`), for support. */
    public requestId?: string,
  ) {
    super(message);
    this.name = 'WxLoginError';
  }
}

/** The `wx` methods the client uses. `wx` itself fits, and so do Taro's and uni-app's
 * mini-program `Taro` / `uni` objects. */
export interface WxLike {
  login(options: { success(result: { code: string }): void; fail(error: { errMsg: string }): void }): unknown;
  checkSession(options: { success(): void; fail(): void }): unknown;
  request(
    options: RequestOptions & {
      success(result: Response): void;
      fail(error: { errMsg: string }): void;
    },
  ): unknown;
  getStorageSync(key: string): any;
  setStorageSync(key: string, value: any): void;
  removeStorageSync(key: string): void;
  getAccountInfoSync?(): { miniProgram: { appId: string } };
}

export interface ClientOptions {
  /** wxlogin's base URL, e.g. `https://login.example.com`. */
  baseURL: string;
  /** Where `request()` resolves relative URLs (your backend, or a gateway in front of it);
   * default `baseURL`. */
  apiBaseURL?: string;
  /** Sent with every login; default `wx.getAccountInfoSync().miniProgram.appId`. */
  appid?: string;
  /** The storage key of the token record; default `"wxlogin"`. */
  storageKey?: string;
  /** A `wx`-compatible object (Taro, uni); default the global `wx`. */
  wx?: WxLike;
  /** Called with `true` when a login or refresh starts and `false` when it ends. */
  onLoading?(loading: boolean): void;
  /** Called with every error the client rejects with, and with non-fatal ones
   * (`storage_failed`, a failed logout call). */
  onError?(error: unknown): void;
}

export interface LoginUser {
  id: string;
  appid: string;
  /** Only after a login (not a refresh): the user was created by it. */
  new?: boolean;
}

/** `GET /v1/session`. */
export interface SessionInfo {
  user_id: string;
  session_id: string;
  appid: string;
  openid: string;
  unionid: string | null;
  issued_at: string;
  expires_at: string;
  [field: string]: unknown;
}

export interface PhoneNumber {
  phone_number: string;
  pure_phone_number: string;
  country_code: string;
}

/** What `wx.getUserInfo`, `wx.getWeRunData`, `wx.getShareInfo` or the phone button hand over. */
export interface EncryptedPayload {
  encryptedData: string;
  iv: string;
  rawData?: string;
  signature?: string;
}

export type DecryptKind = 'user_info' | 'phone' | 'share' | 'group_enter' | 'werun';

export interface Response<T = any> {
  statusCode: number;
  data: T;
  header: Record<string, string>;
}

/** `wx.request`'s options without the callbacks; anything else is passed through. */
export interface RequestOptions {
  /** Absolute, or relative to `apiBaseURL`. */
  url: string;
  method?: 'OPTIONS' | 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE' | 'TRACE' | 'CONNECT';
  data?: string | object | ArrayBuffer;
  header?: Record<string, string>;
  timeout?: number;
  dataType?: string;
  responseType?: 'text' | 'arraybuffer';
  [option: string]: unknown;
}

export interface ViaOption {
  /** Send the payload to this URL of your own backend (the trusted path: it calls wxlogin
   * itself with the user's token) instead of to wxlogin. Relative URLs use `apiBaseURL`. */
  via?: string;
}

export interface Client {
  /** `wx.login` → `POST /v1/login`, always (shares a login already in flight). */
  login(): Promise<LoginUser | undefined>;
  /** Logs in only when needed: no token, its local deadline passed, or — with
   * `checkSession` — `wx.checkSession` fails. Call it with `checkSession` before showing a
   * button that yields encrypted data. */
  ensureLogin(options?: { checkSession?: boolean }): Promise<void>;
  /** The token to send (the access JWT in JWT mode), logging in as needed: for
   * `wx.uploadFile`, sockets and the like. */
  getToken(): Promise<string>;
  /** `wx.request` with the token; resolves for any HTTP status, as `wx.request` does. */
  request<T = any>(options: RequestOptions): Promise<Response<T>>;
  /** `POST /v1/decrypt` (or `via`). Pass the payload, or a function fetching it: then the
   * login state and `wx.checkSession` are settled before the data is fetched. */
  decrypt(kind: DecryptKind, payload: EncryptedPayload | (() => Promise<EncryptedPayload>), options?: ViaOption): Promise<any>;
  /** For `<button open-type="getPhoneNumber">`: the event's `code` through `POST /v1/phone`,
   * else its encryptedData through `/v1/decrypt`. With `via`, your backend's answer. */
  getPhoneNumber(event: { detail: Partial<EncryptedPayload> & { code?: string; errMsg?: string } }, options?: ViaOption): Promise<PhoneNumber | any>;
  /** `GET /v1/session`: who the server says this user is. */
  getSession(): Promise<SessionInfo>;
  /** `POST /v1/logout`, and forgets the token whatever the answer. */
  logout(): Promise<void>;
}

/** The stored record: the token, the access JWT in JWT mode, and their local deadlines (ms). */
interface Stored {
  t: string;
  e: number;
  a?: string;
  x?: number;
}

export function createClient(options: ClientOptions): Client {
  // Typed as WxLike, so the official typings' `wx` is checked to fit it at compile time.
  const w: WxLike = options.wx || wx;
  const key = options.storageKey || 'wxlogin';
  const trim = (url: string) => url.replace(/\/+$/, '');
  const base = trim(options.baseURL);
  const api = trim(options.apiBaseURL || base);
  const absolute = (url: string) => (/^https?:\/\//i.test(url) ? url : api + (url[0] == '/' ? '' : '/') + url);
  const noop = () => {};

  let stored: Stored | null | undefined;
  let pending: Promise<unknown> | null = null;
  let logins = 0;

  const report = (error: unknown) => {
    try {
      if (options.onError) options.onError(error);
    } catch (_) {}
    return error;
  };
  const storageFailed = (error: any) =>
    report(new WxLoginError('storage_failed', String((error && error.errMsg) || error)));

  function load(): Stored | null {
    if (stored === undefined) {
      stored = null;
      try {
        const value = w.getStorageSync(key);
        if (value && value.t) stored = value;
      } catch (error) {
        storageFailed(error);
      }
    }
    return stored as Stored | null;
  }

  function save(value: Stored | null) {
    stored = value;
    try {
      if (value) w.setStorageSync(key, value);
      else w.removeStorageSync(key);
    } catch (error) {
      storageFailed(error);
    }
  }

  /** `wx.request` as a promise; only a transport failure rejects. */
  const send = (o: RequestOptions, token?: string) =>
    new Promise<Response>((resolve, reject) => {
      w.request(
        Object.assign({}, o, {
          url: absolute(o.url),
          header: token ? Object.assign({}, o.header, { Authorization: 'Bearer ' + token }) : o.header,
          success: resolve,
          fail: (e: { errMsg: string }) => reject(new WxLoginError('network_error', e.errMsg)),
        }),
      );
    });

  const bodyError = (r: Response) => (r.data && typeof r.data == 'object' && r.data.error) || {};

  const toError = (r: Response) => {
    const e = bodyError(r);
    return new WxLoginError(e.code || 'http_error', e.message || 'HTTP ' + r.statusCode, r.statusCode, e.request_id);
  };

  /** The server's "this token is dead" mark, as opposed to a backend's own 401. */
  function tokenRefused(r: Response) {
    if (r.statusCode != 401) return false;
    for (const name in r.header) {
      if (/^www-authenticate$/i.test(name) && /error="?invalid_token/i.test(r.header[name])) return true;
    }
    const code: ServerErrorCode = bodyError(r).code;
    return code == 'invalid_token' || code == 'missing_token';
  }

  /** Keeps a login or refresh answer; deadlines are a hint, so a short lifetime gets half. */
  function accept(r: Response, receivedAt: number) {
    if (r.statusCode != 200 || !r.data || !r.data.token) throw toError(r);
    const d = r.data;
    const deadline = (secs: number) => receivedAt + Math.max(secs - 60, secs / 2) * 1000;
    const next: Stored = { t: d.token, e: deadline(d.expires_in) };
    if (d.access_token) {
      next.a = d.access_token;
      next.x = deadline(d.access_expires_in);
    }
    save(next);
    return d.user as LoginUser | undefined;
  }

  /** Runs `acquire` unless a login or refresh is already in flight, whose promise it shares. */
  function single(acquire: () => Promise<unknown>) {
    if (!pending) {
      const loading = (on: boolean) => {
        try {
          if (options.onLoading) options.onLoading(on);
        } catch (_) {}
      };
      loading(true);
      const done = () => {
        pending = null;
        loading(false);
      };
      pending = acquire().then(
        (value) => (done(), value),
        (error) => {
          done();
          throw error;
        },
      );
    }
    return pending;
  }

  async function doLogin() {
    const code = await new Promise<string>((resolve, reject) =>
      w.login({
        success: (r) => resolve(r.code),
        fail: (e) => reject(new WxLoginError('wx_login_failed', e.errMsg)),
      }),
    );
    let appid = options.appid;
    try {
      appid = appid || w.getAccountInfoSync!().miniProgram.appId;
    } catch (_) {}
    const now = Date.now();
    const user = accept(await send({ url: base + '/v1/login', method: 'POST', data: { code, appid } }), now);
    logins++;
    return user;
  }

  async function doRefresh() {
    const now = Date.now();
    try {
      return accept(await send({ url: base + '/v1/token/refresh', method: 'POST' }, load()!.t), now);
    } catch (_) {
      return doLogin();
    }
  }

  const login = () => single(doLogin) as Promise<LoginUser | undefined>;
  const current = () => stored && (stored.a || stored.t);

  const checkSession = () =>
    new Promise<boolean>((resolve) => w.checkSession({ success: () => resolve(true), fail: () => resolve(false) }));

  async function ensureLogin(o?: { checkSession?: boolean }) {
    if (pending) await pending;
    const s = load();
    const now = Date.now();
    if (!s || now >= s.e) return void (await login());
    if (s.a && now >= s.x!) await single(doRefresh);
    const before = logins;
    // A dead session_key needs a login, unless one happened while WeChat was being asked.
    if (o && o.checkSession && !(await checkSession()) && logins == before) await login();
  }

  /** After the server refused `used`: refresh or log in, unless someone already has. */
  function renew(used: string) {
    if (pending) return pending;
    const s = load();
    if (s && current() != used) return Promise.resolve();
    return single(s && s.a ? doRefresh : doLogin);
  }

  /** With `dataInHand`, a stored token is sent even past its local deadline (see the top). */
  async function request(o: RequestOptions, dataInHand?: boolean) {
    if (!(dataInHand && !pending && load())) await ensureLogin();
    const used = current()!;
    const r = await send(o, used);
    if (!tokenRefused(r)) return r;
    await renew(used);
    return send(o, current()!);
  }

  async function call(url: string, data?: object, dataInHand?: boolean) {
    const before = logins;
    const r = await request({ url, method: data ? 'POST' : 'GET', data }, dataInHand);
    if (r.statusCode >= 200 && r.statusCode < 300) return r.data;
    const error = toError(r);
    if (error.code == 'decrypt_failed') {
      // The server's key is not the one the data was sealed with. A login brings it the
      // device's current key, so the next tap works (unless a re-login already happened here).
      error.tapAgain = true;
      if (logins == before) await login().catch(report);
    }
    throw error;
  }

  async function decrypt(kind: DecryptKind, payload: EncryptedPayload | (() => Promise<EncryptedPayload>), o?: ViaOption) {
    if (typeof payload == 'function') {
      await ensureLogin({ checkSession: true });
      payload = await payload();
    }
    const body = {
      kind,
      encrypted_data: payload.encryptedData,
      iv: payload.iv,
      raw_data: payload.rawData,
      signature: payload.signature,
    };
    return call((o && o.via) || base + '/v1/decrypt', body, true);
  }

  async function getPhoneNumber(event: { detail: Partial<EncryptedPayload> & { code?: string; errMsg?: string } }, o?: ViaOption) {
    const d = (event && event.detail) || {};
    if ((d.errMsg && !/:ok$/.test(d.errMsg)) || !(d.code || d.encryptedData)) {
      throw new WxLoginError('phone_denied', d.errMsg || 'getPhoneNumber gave no data');
    }
    const via = o && o.via;
    if (d.code) return call(via || base + '/v1/phone', { code: d.code });
    const r = await decrypt('phone', d as EncryptedPayload, o);
    if (via) return r;
    const p = r.data;
    return { phone_number: p.phoneNumber, pure_phone_number: p.purePhoneNumber, country_code: p.countryCode };
  }

  async function logout() {
    if (pending) await pending.catch(noop);
    const s = load();
    save(null);
    if (s) await send({ url: base + '/v1/logout', method: 'POST' }, s.t).catch(report);
  }

  /** Every public method reports what it rejects with. */
  const reported = <A extends any[], R>(f: (...args: A) => Promise<R>) => (...args: A) =>
    f(...args).catch((error) => {
      throw report(error);
    });

  return {
    login: reported(login),
    ensureLogin: reported(ensureLogin),
    getToken: reported(async () => (await ensureLogin(), current()!)),
    request: reported((o: RequestOptions) => request(o)),
    decrypt: reported(decrypt),
    getPhoneNumber: reported(getPhoneNumber),
    getSession: reported(() => call(base + '/v1/session')),
    logout: reported(logout),
  };
}
