// The app's one wxlogin client, created at launch; pages reach it through getApp().auth.
const { createClient } = require('wxlogin-miniprogram');
const config = require('./config');

App({
  onLaunch() {
    this.auth = createClient({
      baseURL: config.loginBaseURL,
      apiBaseURL: config.apiBaseURL,
      // appid defaults to wx.getAccountInfoSync().miniProgram.appId; wx to the global wx.
      onLoading: (loading) => (loading ? wx.showLoading({ title: '登录中' }) : wx.hideLoading()),
    });
    // A stored token is reused; otherwise this is the launch's one wx.login. Pages that need
    // the user first can wait on `getApp().ready`.
    this.ready = this.auth.ensureLogin().catch(() => {});
  },
});
