// The review page's interaction. The rows are in the HTML already; this only adds word
// highlighting, the filter, the sort and the keyboard. No external resources: works from file://.
(function () {
  'use strict';
  var table = document.getElementById('segments');
  var body = table.tBodies[0];
  var documentOrder = Array.prototype.slice.call(body.rows);
  var onlyFlagged = document.getElementById('only-flagged');
  var sortScore = document.getElementById('sort-score');
  var shown = document.getElementById('shown');
  var current = null;
  var pinned = null;

  // Lights the words aligned with `word` (on the other side of its row); null clears.
  function highlight(word) {
    table.querySelectorAll('.w.hl, .w.origin').forEach(function (w) {
      w.classList.remove('hl', 'origin');
    });
    if (!word) return;
    var row = word.closest('tr');
    var other = word.closest('td').classList.contains('src') ? 'td.tgt' : 'td.src';
    word.classList.add('origin');
    (word.getAttribute('data-to') || '').split(' ').forEach(function (id) {
      if (!id) return;
      var partner = row.querySelector(other + ' .w[data-w="' + id + '"]');
      if (partner) partner.classList.add('hl');
    });
  }

  function select(row, scroll) {
    if (current) current.classList.remove('current');
    current = row;
    if (!row) return;
    row.classList.add('current');
    if (scroll) row.scrollIntoView({ block: 'nearest' });
  }

  function visibleRows() {
    return Array.prototype.filter.call(body.rows, function (row) {
      return getComputedStyle(row).display !== 'none';
    });
  }

  function updateShown() {
    shown.textContent = 'showing ' + visibleRows().length + ' of ' + documentOrder.length;
  }

  body.addEventListener('mouseover', function (event) {
    var word = event.target.closest('.w');
    if (word) highlight(word);
  });
  body.addEventListener('mouseout', function (event) {
    if (event.target.closest('.w')) highlight(pinned);
  });
  body.addEventListener('click', function (event) {
    var row = event.target.closest('tr.seg');
    if (!row) return;
    select(row, false);
    pinned = event.target.closest('.w');
    highlight(pinned);
  });

  onlyFlagged.addEventListener('change', function () {
    table.classList.toggle('only-flagged', onlyFlagged.checked);
    if (current && getComputedStyle(current).display === 'none') select(null);
    updateShown();
  });

  function score(row) { return parseFloat(row.getAttribute('data-score')) || 0; }
  function position(row) { return parseInt(row.getAttribute('data-index'), 10); }
  sortScore.addEventListener('change', function () {
    var order = documentOrder;
    if (sortScore.checked) {
      order = documentOrder.slice().sort(function (a, b) {
        return score(a) - score(b) || position(a) - position(b);
      });
    }
    order.forEach(function (row) { body.appendChild(row); });
    table.classList.toggle('sorted', sortScore.checked);
    if (current) current.scrollIntoView({ block: 'nearest' });
  });

  // j/k: next/previous visible row, in the order shown.
  document.addEventListener('keydown', function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    var tag = event.target && event.target.tagName;
    if (tag === 'TEXTAREA' || (tag === 'INPUT' && event.target.type !== 'checkbox')) return;
    if (event.key !== 'j' && event.key !== 'k') return;
    var rows = visibleRows();
    if (!rows.length) return;
    var step = event.key === 'j' ? 1 : -1;
    var at = rows.indexOf(current);
    var next = at < 0 ? (step > 0 ? 0 : rows.length - 1) : Math.min(rows.length - 1, Math.max(0, at + step));
    select(rows[next], true);
    pinned = null;
    highlight(null);
    event.preventDefault();
  });

  updateShown();
})();
