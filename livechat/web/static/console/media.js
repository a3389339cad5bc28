// media.js: a message's attachments. Every file comes through GET
// /v1/agents/media?session_id=…&seq=…&index=… with the agent's token
// (fetched with the Authorization header, shown from a blob: URL), never
// from the third-party URL the channel gave: images as thumbnails that open
// full size in an overlay, other files as links that download.
import { $, el } from './dom.js';
import { t } from './i18n.js';
import { getBlob } from './api.js';

const cache = new Map(); // "sid/seq/index" → Promise of a blob: URL

export const mediaPath = (sid, seq, index) => '/v1/agents/media?' +
  new URLSearchParams({ session_id: sid, seq: String(seq), index: String(index) }).toString();

function blobURL(sid, seq, index) {
  const key = sid + '/' + seq + '/' + index;
  let p = cache.get(key);
  if (!p) {
    p = getBlob(mediaPath(sid, seq, index)).then((b) => URL.createObjectURL(b));
    p.catch(() => cache.delete(key)); // try again at the next render
    cache.set(key, p);
  }
  return p;
}

// attachmentList renders a message's attachments (sid, seq: the message).
export function attachmentList(sid, seq, list) {
  if (!list || !list.length) return null;
  return el('div', { class: 'attachments' }, ...list.map((a, i) => (a.type === 'image' ? thumb(sid, seq, i, a) : fileLink(sid, seq, i, a))));
}

function thumb(sid, seq, index, a) {
  const img = el('img', { class: 'thumb-img', alt: a.title || t('media.image') });
  const b = el('button', { type: 'button', class: 'thumb', dataset: { index: String(index) }, 'aria-label': t('media.open'), title: t('media.open') }, img);
  blobURL(sid, seq, index).then((u) => { img.src = u; b.dataset.loaded = '1'; })
    .catch((e) => { b.dataset.failed = '1'; b.replaceChildren(el('span', { class: 'media-failed', text: t('media.failed', { msg: e.message }) })); });
  b.addEventListener('click', () => { if (img.src) openViewer(img.src, a.title || ''); });
  return b;
}

function fileLink(sid, seq, index, a) {
  const name = a.title || t('media.type.' + a.type) || a.type;
  const link = el('a', { class: 'file', href: '#', dataset: { index: String(index), type: a.type || '' }, text: '📎 ' + name });
  link.addEventListener('click', async (e) => {
    e.preventDefault();
    try {
      const u = await blobURL(sid, seq, index);
      const tmp = el('a', { href: u, download: a.title || 'attachment' });
      document.body.append(tmp);
      tmp.click();
      tmp.remove();
    } catch (err) {
      link.textContent = t('media.failed', { msg: err.message });
    }
  });
  return link;
}

// openViewer shows an image full size above the page; Escape or a click closes it.
export function openViewer(src, title) {
  const box = $('viewer');
  $('viewer-img').src = src;
  $('viewer-img').alt = title || t('media.image');
  box.hidden = false;
  $('viewer-close').focus();
}

export function wireMedia() {
  const close = () => { $('viewer').hidden = true; $('viewer-img').removeAttribute('src'); };
  $('viewer-close').addEventListener('click', close);
  $('viewer').addEventListener('click', (e) => { if (e.target === $('viewer')) close(); });
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape' && !$('viewer').hidden) close(); });
}
