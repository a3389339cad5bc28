// embed.js: include on any website to offer the 12345 chat in a bubble.
//   <script src="https://GATEWAY/widget/embed.js" data-lang="zh-CN" async></script>
// It adds a round button at the bottom right; the button opens the widget
// in an iframe served by the gateway, so the chat never shares the host
// page's cookies or scripts. window.Hotline12345.open() / .close() / .toggle()
// let the page drive it. The chat's language follows the host page: data-lang
// if given (zh-CN or en), else the page's <html lang>, else the browser's; the
// citizen can still switch it in the widget.
(function () {
  'use strict';
  if (window.Hotline12345) return;
  var script = document.currentScript;
  var src = script && script.src ? new URL(script.src, location.href) : new URL('/widget/embed.js', location.href);
  var origin = src.origin;
  var lang = (script && script.getAttribute('data-lang')) || document.documentElement.getAttribute('lang') || '';
  var zh = (lang || navigator.language || '').toLowerCase().indexOf('zh') === 0;
  var frame = null;
  var open = false;

  var btn = document.createElement('button');
  btn.type = 'button';
  btn.setAttribute('aria-label', zh ? '12345 在线咨询' : '12345 online help');
  btn.title = btn.getAttribute('aria-label');
  btn.setAttribute('data-hotline12345', 'bubble');
  btn.textContent = zh ? '咨询' : 'Chat';
  var bs = btn.style;
  bs.position = 'fixed'; bs.right = '20px'; bs.bottom = '20px'; bs.zIndex = '2147483000';
  bs.width = '60px'; bs.height = '60px'; bs.borderRadius = '50%'; bs.border = '0'; bs.cursor = 'pointer';
  bs.background = '#1d4ed8'; bs.color = '#fff'; bs.font = '600 14px system-ui, sans-serif';
  bs.boxShadow = '0 6px 20px rgba(15, 23, 42, .3)';

  function ensureFrame() {
    if (frame) return frame;
    frame = document.createElement('iframe');
    var u = origin + '/widget/?embed=1' + (lang ? '&lang=' + encodeURIComponent(lang) : '');
    frame.src = u;
    frame.title = btn.title;
    frame.setAttribute('data-hotline12345', 'frame');
    frame.setAttribute('allow', 'camera; microphone');
    var fs = frame.style;
    fs.position = 'fixed'; fs.right = '20px'; fs.bottom = '90px'; fs.zIndex = '2147483000';
    fs.width = 'min(380px, calc(100vw - 40px))'; fs.height = 'min(600px, calc(100vh - 120px))';
    fs.border = '0'; fs.borderRadius = '12px'; fs.background = '#fff';
    fs.boxShadow = '0 12px 40px rgba(15, 23, 42, .25)'; fs.display = 'none';
    document.body.appendChild(frame);
    return frame;
  }

  function show(v) {
    open = v;
    ensureFrame().style.display = v ? 'block' : 'none';
    btn.textContent = v ? '×' : (zh ? '咨询' : 'Chat');
    btn.setAttribute('aria-expanded', String(v));
  }

  btn.addEventListener('click', function () { show(!open); });
  // The widget says when it is connected (data-ready on the iframe) and when
  // the citizen closes it.
  window.addEventListener('message', function (ev) {
    if (!frame || ev.source !== frame.contentWindow || ev.origin !== origin || !ev.data) return;
    if (ev.data.type === 'hotline12345:close') show(false);
    if (ev.data.type === 'hotline12345:ready') frame.setAttribute('data-ready', '1');
  });

  function mount() { document.body.appendChild(btn); }
  if (document.body) mount(); else document.addEventListener('DOMContentLoaded', mount);

  window.Hotline12345 = {
    open: function () { show(true); },
    close: function () { show(false); },
    toggle: function () { show(!open); },
  };
})();
