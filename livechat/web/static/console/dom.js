// dom.js: element helpers.

export const byId = (id) => document.getElementById(id);
export const $ = byId;

// el builds an element: el('div', {class: 'x', text: '…'}, child…) (shared/lib.js).
export const { el } = Lib;
