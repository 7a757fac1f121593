// Where wxlogin and your own backend live. Add both domains to the mini-program's request
// whitelist (mp.weixin.qq.com → 开发管理 → 开发设置 → request合法域名). They may be one domain when
// a gateway (deploy/nginx/wxlogin-auth.conf) fronts both.
module.exports = {
  loginBaseURL: 'https://login.example.com',
  apiBaseURL: 'https://api.example.com',
};
