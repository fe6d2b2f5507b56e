/* finebench explorer: filters over the item index, pages of cards built from lazily loaded chunks.
 * Every value from the data files (responses, options, class names, errors) is untrusted: it is
 * inserted with textContent or as an Option's text, never as HTML. The view lives in the URL hash
 * (#task=...&status=wrong&page=2), so a filtered view can be bookmarked or opened by a test. */
(function () {
  'use strict';
  var PAGE_SIZE = 30;
  var THUMB = /^[0-9a-f]{20}\.jpg$/;
  var STATUS = [
    ['all', 'all items'], ['right', 'right (run A)'], ['wrong', 'wrong (run A)'], ['noanswer', 'no answer (run A)'],
    ['error', 'failed generation (run A)'], ['fixed', 'fixed: A wrong, B right'], ['broken', 'broken: A right, B wrong'],
    ['differ', 'A and B predict differently']
  ];
  var data = null;
  var chunks = {};   // "run/chunk" -> rows, or a list of callbacks while loading
  var renderId = 0;

  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function readState() {
    var params = new URLSearchParams(location.hash.replace(/^#/, ''));
    var nRuns = data.runs.length;
    var a = parseInt(params.get('a') || '0', 10);
    var b = params.has('b') ? parseInt(params.get('b'), 10) : (nRuns > 1 ? 1 : -1);
    a = a >= 0 && a < nRuns ? a : 0;
    b = b >= 0 && b < nRuns && b !== a ? b : -1;
    var status = params.get('status') || 'all';
    if (!STATUS.some(function (s) { return s[0] === status; })) { status = 'all'; }
    return {
      a: a, b: b, task: params.get('task') || '', cls: params.get('cls') || '', status: status,
      pt: params.get('pt') || '', pp: params.get('pp') || '', page: Math.max(1, parseInt(params.get('page') || '1', 10) || 1)
    };
  }

  function writeState(state) {
    var params = new URLSearchParams();
    params.set('a', state.a);
    if (data.runs.length > 1) { params.set('b', state.b); }
    ['task', 'cls', 'status', 'pt', 'pp'].forEach(function (key) { if (state[key] && state[key] !== 'all') { params.set(key, state[key]); } });
    if (state.page > 1) { params.set('page', state.page); }
    location.hash = params.toString();
  }

  function str(id) { return id < 0 ? null : data.strings[id]; }
  function right(run, i) { return data.run_items[run].score[i] > 50; }

  function matches(state, i, taskId) {
    var items = data.items, A = data.run_items[state.a], B = state.b >= 0 ? data.run_items[state.b] : null;
    if (taskId >= 0 && items.task[i] !== taskId) { return false; }
    if (!A.present[i] || (B && !B.present[i])) { return false; }
    if (state.cls && str(items.cls[i]) !== state.cls) { return false; }
    if (state.pt && (str(items.cls[i]) !== state.pt || str(A.pred[i]) !== state.pp)) { return false; }
    switch (state.status) {
      case 'right': return right(state.a, i);
      case 'wrong': return !right(state.a, i);
      case 'noanswer': return (A.flags[i] & 1) !== 0;
      case 'error': return (A.flags[i] & 2) !== 0;
      case 'fixed': return B !== null && !right(state.a, i) && right(state.b, i);
      case 'broken': return B !== null && right(state.a, i) && !right(state.b, i);
      case 'differ': return B !== null && A.pred[i] !== B.pred[i];
      default: return true;
    }
  }

  function taskIndex(name) {
    for (var t = 0; t < data.tasks.length; t++) { if (data.tasks[t].name === name) { return t; } }
    return -1;
  }

  function fillSelect(select, options, value) {
    select.textContent = '';
    options.forEach(function (o) { select.appendChild(new Option(o[1], o[0], false, String(o[0]) === String(value))); });
  }

  function buildControls(state, taskId) {
    var runs = data.runs.map(function (r, i) { return [i, r.label]; });
    fillSelect($('f-a'), runs, state.a);
    fillSelect($('f-b'), [[-1, '(none)']].concat(runs.filter(function (r) { return r[0] !== state.a; })), state.b);
    $('f-b').parentNode.hidden = data.runs.length < 2;
    fillSelect($('f-task'), [['', 'all tasks']].concat(data.tasks.map(function (t) { return [t.name, t.name]; })), state.task);
    fillSelect($('f-status'), STATUS.filter(function (s) { return state.b >= 0 || ['fixed', 'broken', 'differ'].indexOf(s[0]) < 0; }), state.status);
    // classes and confusion pairs of the selected task (all tasks when none is)
    var items = data.items, A = data.run_items[state.a], classes = {}, pairs = {};
    for (var i = 0; i < items.task.length; i++) {
      if ((taskId >= 0 && items.task[i] !== taskId) || !A.present[i]) { continue; }
      var cls = items.cls[i];
      classes[cls] = (classes[cls] || 0) + 1;
      if (!right(state.a, i) && A.pred[i] >= 0 && A.pred[i] !== cls) {
        var key = cls + ',' + A.pred[i];
        pairs[key] = (pairs[key] || 0) + 1;
      }
    }
    var classOptions = Object.keys(classes).map(Number).sort(function (x, y) { return str(x) < str(y) ? -1 : 1; })
      .map(function (c) { return [str(c), str(c) + ' (' + classes[c] + ')']; });
    fillSelect($('f-cls'), [['', 'all classes']].concat(classOptions), state.cls);
    var pairKeys = Object.keys(pairs).sort(function (x, y) { return pairs[y] - pairs[x]; }).slice(0, 300);
    var pairOptions = pairKeys.map(function (k) {
      var ids = k.split(',').map(Number);
      return [JSON.stringify([str(ids[0]), str(ids[1])]), str(ids[0]) + ' → ' + str(ids[1]) + ' (' + pairs[k] + ')'];
    });
    var current = state.pt ? JSON.stringify([state.pt, state.pp]) : '';
    if (current && !pairOptions.some(function (o) { return o[0] === current; })) {
      pairOptions.unshift([current, state.pt + ' → ' + state.pp]);
    }
    fillSelect($('f-pair'), [['', 'any']].concat(pairOptions), current);
  }

  function onControl() {
    var state = readState();
    state.a = parseInt($('f-a').value, 10);
    state.b = parseInt($('f-b').value || '-1', 10);
    if (state.b === state.a) { state.b = -1; }
    state.task = $('f-task').value;
    state.cls = $('f-cls').value;
    state.status = $('f-status').value;
    var pair = $('f-pair').value ? JSON.parse($('f-pair').value) : ['', ''];
    state.pt = pair[0]; state.pp = pair[1];
    if (this === $('f-task')) { state.cls = ''; state.pt = ''; state.pp = ''; }
    state.page = 1;
    writeState(state);
  }

  function loadChunk(run, chunk) {
    var key = run + '/' + chunk;
    return new Promise(function (resolve) {
      var entry = chunks[key];
      if (entry && !entry.waiting) { resolve(entry); return; }
      if (entry) { entry.waiting.push(resolve); return; }
      chunks[key] = { waiting: [resolve] };
      var script = document.createElement('script');
      script.src = 'data/r' + run + '_' + ('0000' + chunk).slice(-5) + '.js';
      script.onerror = function () { FB.chunk(run, chunk, null); };
      document.head.appendChild(script);
    });
  }

  function thumbnail(i) {
    var name = data.items.thumb[i];
    if (name && THUMB.test(name)) {
      var img = el('img', 'thumb');
      img.alt = '';
      img.loading = 'lazy';
      img.src = 'thumbs/' + name;
      return img;
    }
    return el('div', 'nothumb', 'no image');
  }

  function statusOf(score) { return score > 50 ? (score === 100 ? 'right' : 'mixed') : (score === 0 ? 'wrong' : 'mixed'); }

  function thinkOf(response) {
    var match = /<think>([\s\S]*?)(<\/think>|$)/.exec(response || '');
    return match ? match[1].trim() : null;
  }

  function trialNode(trial, truth, multiple) {
    var box = el('div', 'trial');
    if (multiple) { box.appendChild(el('div', 'meta', 'trial ' + trial.k)); }
    if (trial.o && trial.o.length) {
      var list = el('ol', 'options');
      trial.o.forEach(function (option) {
        var li = el('li', null, option);
        if (option === truth) { li.classList.add('true'); li.appendChild(el('span', 'mark', '✓ true')); }
        if (trial.a !== null && option === trial.a) { li.classList.add('chosen'); li.appendChild(el('span', 'mark', '◀ chosen')); }
        list.appendChild(li);
      });
      if (trial.no > trial.o.length) { list.appendChild(el('li', 'more', '… ' + trial.no + ' options in all (true and chosen shown)')); }
      box.appendChild(list);
    }
    var answer = el('div', 'answer');
    answer.appendChild(el('span', 'label', 'answer: '));
    answer.appendChild(trial.n ? el('span', 'badge noanswer', 'no answer') : document.createTextNode(trial.a === null ? '–' : trial.a));
    box.appendChild(answer);
    var scores = Object.keys(trial.s || {}).map(function (k) { return k + ' ' + (+trial.s[k]).toFixed(2); });
    if (scores.length) { box.appendChild(el('div', 'scores', scores.join(' · '))); }
    if (trial.e) { box.appendChild(el('div', 'trial-error', 'error: ' + trial.e)); }
    var think = thinkOf(trial.r);
    if (think !== null) {
      var thinking = el('details', 'think');
      thinking.appendChild(el('summary', null, '<think> (' + think.length + ' characters)'));
      thinking.appendChild(el('pre', null, think));
      box.appendChild(thinking);
    }
    var raw = el('details', 'response');
    raw.appendChild(el('summary', null, 'response (' + (trial.r || '').length + ' characters)'));
    raw.appendChild(el('pre', null, trial.r || ''));
    box.appendChild(raw);
    return box;
  }

  function panel(run, i, row, truth) {
    var box = el('div', 'panel');
    var heading = el('h3', null, data.runs[run].label);
    var score = data.run_items[run].score[i];
    heading.appendChild(el('span', 'badge ' + statusOf(score), statusOf(score) + ' ' + score + '%'));
    if (data.run_items[run].flags[i] & 2) { heading.appendChild(el('span', 'badge error', 'failed')); }
    box.appendChild(heading);
    if (!row) { box.appendChild(el('div', 'absent', 'not in this run')); return box; }
    row.trials.forEach(function (trial) { box.appendChild(trialNode(trial, truth, row.trials.length > 1)); });
    return box;
  }

  function card(state, i, rows) {
    var truth = str(data.items.cls[i]);
    var node = el('article', 'card ' + statusOf(data.run_items[state.a].score[i]));
    node.dataset.item = i;
    node.appendChild(thumbnail(i));
    var head = el('div', 'head');
    head.appendChild(el('div', 'meta', data.tasks[data.items.task[i]].name + ' · doc ' + data.items.doc[i]));
    var truthLine = el('div', 'truth');
    truthLine.appendChild(document.createTextNode('true: '));
    truthLine.appendChild(el('span', 'class-name', truth));
    head.appendChild(truthLine);
    var first = rows[0] || rows[1];
    if (first && first.q) { head.appendChild(el('div', 'question', first.q)); }
    node.appendChild(head);
    var panels = el('div', 'panels');
    panels.appendChild(panel(state.a, i, rows[0], truth));
    if (state.b >= 0) { panels.appendChild(panel(state.b, i, rows[1], truth)); }
    node.appendChild(panels);
    return node;
  }

  function render() {
    var id = ++renderId;
    var state = readState();
    var taskId = state.task ? taskIndex(state.task) : -1;
    document.body.dataset.state = 'loading';
    document.body.classList.toggle('pair', state.b >= 0);
    buildControls(state, taskId);
    var selected = [];
    var total = data.items.task.length;
    for (var i = 0; i < total; i++) { if (matches(state, i, taskId)) { selected.push(i); } }
    var pages = Math.max(1, Math.ceil(selected.length / PAGE_SIZE));
    var page = Math.min(state.page, pages);
    var shown = selected.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE);
    $('summary').textContent = selected.length + ' of ' + total + ' items';
    $('summary').dataset.count = selected.length;
    $('page').textContent = 'page ' + page + ' of ' + pages;
    $('prev').disabled = page <= 1;
    $('next').disabled = page >= pages;
    var runs = [state.a].concat(state.b >= 0 ? [state.b] : []);
    var needed = {};
    shown.forEach(function (item) { runs.forEach(function (r) { needed[r + '/' + Math.floor(item / data.chunk_size)] = [r, Math.floor(item / data.chunk_size)]; }); });
    Promise.all(Object.keys(needed).map(function (k) { return loadChunk(needed[k][0], needed[k][1]); })).then(function () {
      if (id !== renderId) { return; }
      var grid = $('grid');
      grid.textContent = '';
      shown.forEach(function (item) {
        var rows = runs.map(function (r) {
          var entry = chunks[r + '/' + Math.floor(item / data.chunk_size)];
          return entry && entry.rows ? entry.rows[item % data.chunk_size] : null;
        });
        grid.appendChild(card(state, item, rows));
      });
      document.body.dataset.shown = shown.length;
      document.body.dataset.state = 'ready';
      if (!document.body.dataset.readyMs) { document.body.dataset.readyMs = Math.round(performance.now()); }
    });
  }

  function step(delta) {
    var state = readState();
    state.page = Math.max(1, state.page + delta);
    writeState(state);
    window.scrollTo(0, 0);
  }

  window.FB = {
    index: function (payload) {
      data = payload;
      document.title = payload.title;
      $('title').textContent = payload.title;
      payload.runs.forEach(function (r, i) {
        var name = el('span', 'run', (i ? ' · ' : '') + String.fromCharCode(65 + i) + ': ' + r.label);
        name.title = r.path;
        $('runs').appendChild(name);
      });
      ['f-a', 'f-b', 'f-task', 'f-cls', 'f-status', 'f-pair'].forEach(function (key) { $(key).addEventListener('change', onControl); });
      $('prev').addEventListener('click', function () { step(-1); });
      $('next').addEventListener('click', function () { step(1); });
      window.addEventListener('hashchange', render);
      render();
    },
    chunk: function (run, chunk, rows) {
      var key = run + '/' + chunk;
      var waiting = (chunks[key] && chunks[key].waiting) || [];
      chunks[key] = { rows: rows };
      waiting.forEach(function (resolve) { resolve(chunks[key]); });
    },
    fail: function (message) {
      document.body.dataset.state = 'failed';
      $('summary').textContent = message;
    }
  };
}());
