//! Accessibility checks of a page as the browser has it, shared by the console's browser tests:
//! every input labelled, the keyboard reaching every control in the page's order with its focus
//! shown, text contrast of at least 4.5:1 (WCAG 2, level AA), the page's language set, one
//! `<h1>`, images with `alt`, and links and buttons with a name.
//!
//! Each check panics with the page's name and what it found.

use serde_json::Value;

use crate::browser::Browser;

/// The WebDriver key code of Tab.
const TAB: &str = "\u{E004}";

/// A script's function naming an element: tag, then its name, link or text.
const DESCRIBE: &str = "const describe = e => e.tagName + ' ' + (e.getAttribute('name') \
    || e.getAttribute('href') || e.textContent.trim().replace(/\\s+/g, ' ').slice(0, 40));";

/// A script returning the inputs, selects and text areas of the page without a label (neither a
/// `<label>` around them or `for` them, nor `aria-label` / `aria-labelledby`).
pub const UNLABELLED: &str = "return [...document.querySelectorAll(\
    'input:not([type=hidden]):not([type=submit]):not([type=button]):not([type=reset]),\
     select,textarea')]\
    .filter(e => !e.closest('label') && !e.labels.length && !e.getAttribute('aria-label') \
                 && !e.getAttribute('aria-labelledby'))\
    .map(e => e.tagName + ' ' + (e.name || e.id))";

/// Every input, select and text area of the page has a label.
pub fn assert_inputs_labelled(browser: &Browser, page: &str) {
    let unlabelled = browser.script(UNLABELLED);
    assert_eq!(
        unlabelled.as_array().map(Vec::len),
        Some(0),
        "{page}: inputs without a label: {unlabelled}"
    );
}

/// Tabbing from the first control of the page (the skip link) reaches every link, button and
/// input in the order of the page, each showing its focus (an outline of 2 px or more), and the
/// skip link comes into view when focused. A box that scrolls (a wide table at 360 px) and holds
/// no control of its own is a stop too, as Chromium makes it one so that the keyboard can scroll
/// it.
///
/// The Tab presses go in as few WebDriver commands as can be (a date input takes a Tab per
/// field of it); a `focusin` listener notes what each one focused and whether its outline
/// showed.
pub fn assert_keyboard_reaches_every_control(browser: &Browser, page: &str) {
    let controls = browser.script(&format!(
        "{DESCRIBE} const focusable = 'a[href],button,input,select,textarea,[tabindex]';\
         const tabbable = e => e.tabIndex >= 0 && !e.disabled && e.type !== 'hidden';\
         const scroller = e => {{ const s = getComputedStyle(e);\
             return ((/auto|scroll/.test(s.overflowX) && e.scrollWidth > e.clientWidth)\
                 || (/auto|scroll/.test(s.overflowY) && e.scrollHeight > e.clientHeight))\
                 && ![...e.querySelectorAll(focusable)].some(tabbable); }};\
         const c = [...document.body.querySelectorAll('*')]\
             .filter(e => (e.matches(focusable) ? tabbable(e) : scroller(e))\
                          && e.getClientRects().length);\
         c[0].focus();\
         window.focusLog = [];\
         if (!window.focusListened) {{ window.focusListened = true;\
             document.addEventListener('focusin', ev => {{\
                 const s = getComputedStyle(ev.target);\
                 window.focusLog.push([describe(ev.target),\
                     s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2]); }}); }}\
         return c.map(describe);"
    ));
    let controls: Vec<String> = controls
        .as_array()
        .unwrap_or_else(|| panic!("{page}: {controls}"))
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(controls.len() >= 4, "{page}: {controls:?}");
    assert!(controls[0].starts_with("A "), "{page}: {controls:?}");
    let skip_shown = "const r = document.activeElement.getBoundingClientRect();\
        return r.left >= 0 && r.top >= 0 && r.width > 0";
    assert_eq!(
        browser.script(skip_shown),
        true,
        "{page}: the skip link stays out of sight when focused"
    );
    // As many Tabs as controls are left; then again for those a Tab inside a date input kept
    // from moving on (a few rounds at most).
    let mut log = Vec::new();
    for _ in 0..8 {
        let missing = controls.len() - 1 - log.len().min(controls.len() - 1);
        if missing == 0 {
            break;
        }
        browser.press_key(TAB, missing);
        log = browser
            .script("return window.focusLog")
            .as_array()
            .cloned()
            .unwrap_or_default();
    }
    for (i, expected) in controls.iter().enumerate().skip(1) {
        let Some(now) = log.get(i - 1) else {
            panic!(
                "{page}: Tab number {i} focused nothing of the page (expected {expected}); \
                 all reached: {log:?}"
            );
        };
        assert_eq!(
            now[0].as_str().unwrap_or_default(),
            expected,
            "{page}: Tab number {i} went elsewhere"
        );
        assert_eq!(
            now[1],
            Value::Bool(true),
            "{page}: no visible focus on {expected}"
        );
    }
}

/// Every visible text of the page, in the colour it is drawn in, against the first background
/// behind it, has a WCAG 2 contrast ratio of at least 4.5:1 (the lowest is printed).
pub fn assert_text_contrast(browser: &Browser, page: &str) {
    let worst = browser.script(
        "const rgb = c => (c.match(/[\\d.]+/g) || []).map(Number);\
         const lum = c => { const [r, g, b] = rgb(c).map(v => v / 255)\
             .map(v => v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4));\
             return 0.2126 * r + 0.7152 * g + 0.0722 * b; };\
         const behind = e => { for (; e; e = e.parentElement) {\
             const c = getComputedStyle(e).backgroundColor; const v = rgb(c);\
             if (v.length === 3 || (v.length === 4 && v[3] > 0)) return c; }\
             return 'rgb(255, 255, 255)'; };\
         let worst = [99, ''];\
         for (const e of document.querySelectorAll('body *')) {\
             if (e.closest('svg') || !e.getClientRects().length) continue;\
             if (![...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;\
             const s = getComputedStyle(e);\
             if (s.visibility !== 'visible' || e.getBoundingClientRect().left < 0) continue;\
             const a = lum(s.color), b = lum(behind(e));\
             const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);\
             if (ratio < worst[0]) worst = [ratio, e.tagName + '.' + e.className + ' ' \
                 + s.color + ' on ' + behind(e)];\
         }\
         return worst;",
    );
    let ratio = worst[0].as_f64().unwrap_or_default();
    eprintln!("{page}: lowest text contrast {ratio:.2}:1 ({})", worst[1]);
    assert!(
        ratio >= 4.5,
        "{page}: contrast {ratio:.2}:1 for {}",
        worst[1]
    );
}

/// The page's language is set (`<html lang>`), it has one `<h1>`, every image an `alt`, and
/// every link and button a name (its text, an image's `alt`, `aria-label`, `aria-labelledby` or
/// `title`; an input button's value).
pub fn assert_page_structure(browser: &Browser, page: &str) {
    let found = browser.script(
        "const text = s => (s || '').trim();\
         const name = e => text(e.getAttribute('aria-label'))\
             || text((e.getAttribute('aria-labelledby') || '').split(/\\s+/)\
                 .map(id => (document.getElementById(id) || {}).textContent).join(' '))\
             || text(e.textContent)\
             || text([...e.querySelectorAll('img[alt]')].map(i => i.alt).join(' '))\
             || text(e.getAttribute('title'))\
             || (e.tagName === 'INPUT' ? text(e.value) : '');\
         return {\
             lang: document.documentElement.lang,\
             h1: document.querySelectorAll('h1').length,\
             no_alt: [...document.querySelectorAll('img:not([alt])')].map(i => i.src),\
             nameless: [...document.querySelectorAll('a[href],button,[role=button],[role=link],\
                 input[type=submit],input[type=button],input[type=reset]')]\
                 .filter(e => !name(e)).map(e => e.outerHTML.slice(0, 80)),\
         };",
    );
    assert!(
        found["lang"].as_str().is_some_and(|l| !l.is_empty()),
        "{page}: <html> has no lang: {found}"
    );
    assert_eq!(found["h1"], 1, "{page}: not exactly one <h1>: {found}");
    assert_eq!(
        found["no_alt"].as_array().map(Vec::len),
        Some(0),
        "{page}: images without alt: {found}"
    );
    assert_eq!(
        found["nameless"].as_array().map(Vec::len),
        Some(0),
        "{page}: links or buttons without a name: {found}"
    );
}

/// All the checks of this module on the page as it is now.
pub fn assert_accessible(browser: &Browser, page: &str) {
    assert_page_structure(browser, page);
    assert_inputs_labelled(browser, page);
    assert_text_contrast(browser, page);
    assert_keyboard_reaches_every_control(browser, page);
}
