// A login button, a phone-number button and a logout button on the wxlogin client of app.js.
// Handlers return their promise (the runtime ignores it; the example's test awaits it).
const app = getApp();

Page({
  data: { openid: '', phone: '', message: '' },

  onShow() {
    // Settle the login and the session_key (wx.checkSession) before the phone button can be
    // tapped: its encryptedData is sealed with the key current at the tap, and no wx.login may
    // come between the tap and sending the data.
    return app.auth.ensureLogin({ checkSession: true }).catch((e) => this.setData({ message: '登录失败：' + e.code }));
  },

  onLogin() {
    return app.auth.getSession().then(
      (session) => this.setData({ openid: session.openid, message: '已登录' }),
      (e) => this.setData({ message: '登录失败：' + e.code }),
    );
  },

  onGetPhoneNumber(event) {
    // The button's code goes to wxlogin's /v1/phone (or its encryptedData to /v1/decrypt on
    // older base libraries). To have your backend verify the number itself, pass
    // { via: '/api/phone' } and let it call wxlogin with the user's token.
    return app.auth.getPhoneNumber(event).then(
      (phone) => this.setData({ phone: phone.phone_number, message: '' }),
      (e) => {
        let message = '出错了：' + e.code;
        if (e.tapAgain) message = '请再点一次'; // decrypt_failed: the client has logged in again
        else if (e.code === 'phone_denied') message = '未授权手机号';
        this.setData({ message });
      },
    );
  },

  onLogout() {
    return app.auth.logout().then(() => this.setData({ openid: '', phone: '', message: '已退出' }));
  },
});
