//! The console's languages: English and Swahili, from one message catalogue keyed by id.
//!
//! The language comes from the `hs_lang` cookie (set by the switcher) or else from the browser's
//! `Accept-Language`; English when neither names Swahili. An id missing from the catalogue shows
//! as the id itself (a test checks that every id the templates use is in both languages).

use axum::http::HeaderMap;

/// A language the console speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Sw,
}

/// The cookie that remembers the switcher's choice.
pub const LANG_COOKIE: &str = "hs_lang";

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Sw];

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Sw => "sw",
        }
    }

    pub fn parse(code: &str) -> Option<Lang> {
        Lang::ALL.into_iter().find(|l| l.code() == code)
    }

    /// The name of the language in itself (for the switcher).
    pub fn name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Sw => "Kiswahili",
        }
    }

    /// The request's language: the cookie, else the first of `Accept-Language` we speak.
    pub fn of(headers: &HeaderMap) -> Lang {
        if let Some(l) = super::cookie(headers, LANG_COOKIE).and_then(|c| Lang::parse(&c)) {
            return l;
        }
        let accept = headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        accept_language(accept)
    }
}

/// The first language of an `Accept-Language` value (by weight) that we speak; English otherwise.
pub fn accept_language(value: &str) -> Lang {
    let mut best: Option<(f32, Lang)> = None;
    for part in value.split(',') {
        let mut pieces = part.trim().split(';');
        let tag = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = pieces
            .find_map(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
            })
            .unwrap_or(1.0);
        let primary = tag.split('-').next().unwrap_or("");
        if let Some(lang) = Lang::parse(primary)
            && q > 0.0
            && best.is_none_or(|(b, _)| q > b)
        {
            best = Some((q, lang));
        }
    }
    best.map(|(_, l)| l).unwrap_or(Lang::En)
}

/// Messages in one language, for templates: `{{ t.get("id") }}`.
#[derive(Debug, Clone, Copy)]
pub struct Tr(pub Lang);

impl Tr {
    pub fn get<'a>(&self, id: &'a str) -> &'a str {
        lookup(self.0, id).unwrap_or_else(|| {
            tracing::warn!(id, "console message missing from the catalogue");
            id
        })
    }

    pub fn lang(&self) -> Lang {
        self.0
    }
}

/// The message `id` in `lang`, if the catalogue has it.
pub fn lookup(lang: Lang, id: &str) -> Option<&'static str> {
    CATALOGUE
        .iter()
        .find(|(k, _, _)| *k == id)
        .map(|(_, en, sw)| match lang {
            Lang::En => *en,
            Lang::Sw => *sw,
        })
}

/// id, English, Swahili.
pub const CATALOGUE: &[(&str, &str, &str)] = &[
    ("app.name", "Hotspot console", "Dashibodi ya Hotspot"),
    (
        "app.times_in",
        "Times are in the time zone",
        "Saa ziko katika saa za eneo",
    ),
    ("nav.skip", "Skip to content", "Ruka hadi maudhui"),
    ("nav.dashboard", "Dashboard", "Dashibodi"),
    ("nav.sites", "Sites", "Vituo"),
    ("sites.title", "Sites", "Vituo"),
    ("sites.name", "Name", "Jina"),
    ("sites.location", "Location", "Mahali"),
    ("sites.ssid", "WiFi name (SSID)", "Jina la WiFi (SSID)"),
    ("sites.version", "Version", "Toleo"),
    (
        "sites.portal_url",
        "Portal address (optional; voucher QR codes link to it)",
        "Anwani ya tovuti ya kuingia (si lazima; QR za vocha zinaelekeza huko)",
    ),
    ("sites.actions", "Actions", "Vitendo"),
    ("sites.claim", "New claim code", "Nambari mpya ya kudai"),
    ("sites.new", "New site", "Kituo kipya"),
    ("sites.create", "Create the site", "Unda kituo"),
    ("sites.next", "Next page", "Ukurasa unaofuata"),
    (
        "sites.invalid",
        "The site was not created:",
        "Kituo hakikuundwa:",
    ),
    ("nav.packages", "Packages", "Vifurushi"),
    ("pkg.title", "Packages", "Vifurushi"),
    ("pkg.none", "No packages yet.", "Bado hakuna vifurushi."),
    ("pkg.name", "Name", "Jina"),
    ("pkg.description", "Description", "Maelezo"),
    ("pkg.price", "Price (KES)", "Bei (KES)"),
    (
        "pkg.rates",
        "Down / up (Mbit/s)",
        "Kupakua / kupakia (Mbit/s)",
    ),
    (
        "pkg.down",
        "Download rate (Mbit/s)",
        "Kasi ya kupakua (Mbit/s)",
    ),
    ("pkg.up", "Upload rate (Mbit/s)", "Kasi ya kupakia (Mbit/s)"),
    (
        "pkg.minutes",
        "Time limit (minutes)",
        "Kikomo cha muda (dakika)",
    ),
    ("pkg.data", "Data limit (MB)", "Kikomo cha data (MB)"),
    ("pkg.validity", "Valid for (days)", "Halali kwa (siku)"),
    ("pkg.devices", "Devices", "Vifaa"),
    ("pkg.on_sale", "On sale", "Inauzwa"),
    ("pkg.unlimited", "no limit", "bila kikomo"),
    ("pkg.subscription", "subscription", "usajili"),
    (
        "pkg.all_sites",
        "Tick the sites that sell it; with none ticked it is sold at every site. The routers receive each change.",
        "Chagua vituo vinavyokiuza; kisipochaguliwa kituo chochote kinauzwa kila kituo. Ruta hupokea kila mabadiliko.",
    ),
    ("pkg.sold_at", "Sold at", "Kinauzwa"),
    ("pkg.every_site", "every site", "kila kituo"),
    ("pkg.new", "New package", "Kifurushi kipya"),
    ("pkg.create", "Create the package", "Unda kifurushi"),
    (
        "pkg.invalid",
        "The package was not created:",
        "Kifurushi hakikuundwa:",
    ),
    ("pkg.edit", "Edit package", "Hariri kifurushi"),
    ("pkg.save", "Save the changes", "Hifadhi mabadiliko"),
    (
        "pkg.not_saved",
        "The changes were not saved:",
        "Mabadiliko hayakuhifadhiwa:",
    ),
    (
        "pkg.limits_stay",
        "A time or data limit left empty means the package has none (unlimited).",
        "Kikomo cha muda au data kikiachwa wazi, kifurushi hakina kikomo hicho.",
    ),
    ("pkg.delete", "Delete this package", "Futa kifurushi hiki"),
    (
        "pkg.delete_confirm",
        "Yes: stop selling it everywhere (vouchers already sold keep working)",
        "Ndiyo: acha kukiuza kila mahali (vocha zilizokwisha uzwa zinaendelea kufanya kazi)",
    ),
    ("pkg.delete_button", "Delete package", "Futa kifurushi"),
    (
        "pkg.delete_unconfirmed",
        "Tick the box to confirm the deletion. Nothing was deleted.",
        "Weka alama kwenye kisanduku kuthibitisha kufuta. Hakuna kilichofutwa.",
    ),
    ("pkg.back", "Back to the packages", "Rudi kwenye vifurushi"),
    ("nav.settings", "Settings", "Mipangilio"),
    ("set.title", "Settings", "Mipangilio"),
    (
        "set.not_saved",
        "Nothing was changed:",
        "Hakuna kilichobadilishwa:",
    ),
    (
        "set.once",
        "Copy it now: it is shown only this once and cannot be read back.",
        "Inakili sasa: inaonyeshwa mara hii moja tu na haiwezi kusomwa tena.",
    ),
    (
        "set.callback_token",
        "The token of the M-Pesa callback address:",
        "Tokeni ya anwani ya majibu ya M-Pesa:",
    ),
    (
        "set.nas_secret",
        "The new NAS's RADIUS secret:",
        "Siri ya RADIUS ya NAS mpya:",
    ),
    ("set.mpesa", "M-Pesa", "M-Pesa"),
    (
        "set.branding",
        "Portal branding",
        "Mwonekano wa ukurasa wa WiFi",
    ),
    (
        "set.brand_help",
        "What guests see on the WiFi login page of every site. Routers take it at their next sync and keep it offline.",
        "Wanachoona wageni kwenye ukurasa wa kuingia wa WiFi katika kila kituo. Ruta huupokea zinaposawazisha tena na huubaki nao bila mtandao.",
    ),
    ("set.brand_title", "Title", "Kichwa"),
    (
        "set.brand_welcome",
        "Welcome text",
        "Maandishi ya kukaribisha",
    ),
    ("set.brand_accent", "Accent colour", "Rangi kuu"),
    (
        "set.brand_phone",
        "Support phone (optional)",
        "Simu ya msaada (si lazima)",
    ),
    ("set.brand_logo", "Logo", "Nembo"),
    (
        "set.brand_logo_help",
        "PNG or JPEG, at most 32 KiB. Leave empty to keep the current logo.",
        "PNG au JPEG, isiyozidi KiB 32. Acha wazi ili kubaki na nembo ya sasa.",
    ),
    ("set.brand_save", "Save branding", "Hifadhi mwonekano"),
    ("set.brand_current_logo", "Current logo", "Nembo ya sasa"),
    ("set.brand_remove_logo", "Remove logo", "Ondoa nembo"),
    ("set.paybill", "Paybill number", "Nambari ya Paybill"),
    (
        "set.shortcode",
        "Shortcode (optional)",
        "Shortcode (si lazima)",
    ),
    ("set.environment", "Environment", "Mazingira"),
    ("set.passkey", "Passkey", "Passkey"),
    ("set.consumer_key", "Consumer key", "Consumer key"),
    ("set.consumer_secret", "Consumer secret", "Consumer secret"),
    ("set.is_set", "(set)", "(imewekwa)"),
    ("set.not_set", "(not set)", "(haijawekwa)"),
    (
        "set.secret_help",
        "Secrets are never shown. Leave a secret empty to keep the one stored.",
        "Siri hazionyeshwi kamwe. Acha siri wazi ili kubaki na iliyohifadhiwa.",
    ),
    (
        "set.mpesa_on",
        "Take M-Pesa payments",
        "Pokea malipo ya M-Pesa",
    ),
    (
        "set.save_mpesa",
        "Save M-Pesa settings",
        "Hifadhi mipangilio ya M-Pesa",
    ),
    ("set.users", "Staff and roles", "Wafanyakazi na majukumu"),
    ("set.email", "E-mail", "Barua pepe"),
    ("set.full_name", "Full name", "Jina kamili"),
    (
        "set.password",
        "Password (12 characters or more)",
        "Nenosiri (herufi 12 au zaidi)",
    ),
    ("set.roles", "Roles", "Majukumu"),
    ("set.role", "Role", "Jukumu"),
    ("set.active", "Active", "Hai"),
    ("set.mfa", "Second factor", "Hatua ya pili"),
    ("set.last_login", "Last sign-in", "Kuingia kwa mwisho"),
    ("set.change_role", "Change the role", "Badilisha jukumu"),
    ("set.deactivate", "Disable", "Zima"),
    (
        "set.new_user",
        "New staff account",
        "Akaunti mpya ya mfanyakazi",
    ),
    ("set.create_user", "Create the account", "Unda akaunti"),
    ("set.nas", "RADIUS NAS", "NAS za RADIUS"),
    (
        "set.no_nas",
        "No NAS registered.",
        "Hakuna NAS iliyosajiliwa.",
    ),
    ("set.nas_address", "IP address", "Anwani ya IP"),
    ("set.nas_name", "Short name", "Jina fupi"),
    ("set.nas_type", "Type", "Aina"),
    ("set.nas_description", "Description", "Maelezo"),
    ("set.nas_delete", "Remove", "Ondoa"),
    ("set.new_nas", "New NAS", "NAS mpya"),
    ("set.create_nas", "Register the NAS", "Sajili NAS"),
    ("set.nas_edit", "Edit", "Hariri"),
    ("set.edit_nas", "Edit the NAS", "Hariri NAS"),
    ("set.save_nas", "Save the NAS", "Hifadhi NAS"),
    ("set.nas_coa_port", "CoA port", "Mlango wa CoA"),
    (
        "set.nas_require_ma",
        "Require Message-Authenticator",
        "Hitaji Message-Authenticator",
    ),
    (
        "set.nas_limit_proxy_state",
        "Limit Proxy-State",
        "Zuia Proxy-State",
    ),
    (
        "set.nas_fingerprint",
        "RadSec certificate (SHA-256, hex; empty keeps it)",
        "Cheti cha RadSec (SHA-256, hex; ukiacha wazi kinabaki)",
    ),
    ("set.nas_router", "Router", "Ruta"),
    (
        "set.nas_no_router",
        "(not a router of ours)",
        "(si ruta yetu)",
    ),
    (
        "set.nas_router_help",
        "When the NAS is one of your claimed routers, its sessions are counted once, as the \
         router reports them; RADIUS accounting keeps them too.",
        "NAS ikiwa ni mojawapo ya ruta zako zilizodaiwa, vipindi vyake huhesabiwa mara moja, \
         kama ruta inavyoripoti; uhasibu wa RADIUS huvihifadhi pia.",
    ),
    ("set.nas_secret_title", "RADIUS secret", "Siri ya RADIUS"),
    (
        "set.nas_secret_help",
        "A new secret replaces the old one at once: enter it in the NAS straight away.",
        "Siri mpya inachukua nafasi ya ile ya zamani mara moja: iweke kwenye NAS papo hapo.",
    ),
    ("set.replace_secret", "Replace the secret", "Badilisha siri"),
    (
        "set.nas_new_secret",
        "The NAS's new RADIUS secret:",
        "Siri mpya ya RADIUS ya NAS:",
    ),
    ("set.back", "Back to the settings", "Rudi kwenye mipangilio"),
    ("site.uptime", "Router uptime", "Muda ruta imewaka"),
    (
        "site.outbox",
        "Events waiting to sync",
        "Matukio yanayosubiri kusawazishwa",
    ),
    (
        "site.health",
        "Guests online by hour, last 24 hours (router reports)",
        "Wageni mtandaoni kwa saa, saa 24 zilizopita (ripoti za ruta)",
    ),
    (
        "site.no_health",
        "The router has sent no health report in the last 24 hours.",
        "Ruta haijatuma ripoti ya hali katika saa 24 zilizopita.",
    ),
    (
        "site.all_devices",
        "All registered devices",
        "Vifaa vyote vilivyosajiliwa",
    ),
    (
        "site.portal",
        "Portal address (empty: the router's default)",
        "Anwani ya tovuti (wazi: chaguo-msingi la ruta)",
    ),
    ("site.save_portal", "Save the address", "Hifadhi anwani"),
    ("hist.title", "Session history", "Historia ya vipindi"),
    ("hist.from", "From (date)", "Kuanzia (tarehe)"),
    ("hist.to", "Before (date)", "Kabla ya (tarehe)"),
    ("hist.ended", "Ended", "Kiliisha"),
    (
        "hist.none",
        "No sessions match.",
        "Hakuna vipindi vinavyolingana.",
    ),
    (
        "hist.bad_filter",
        "A filter is not understood:",
        "Kichujio hakieleweki:",
    ),
    ("claim.title", "Router claim code", "Nambari ya kudai ruta"),
    ("claim.created", "The site is created.", "Kituo kimeundwa."),
    (
        "claim.help",
        "On the site's router run hotspotd claim with this code, or scan it. It works once and is shown only now.",
        "Kwenye ruta ya kituo endesha hotspotd claim na nambari hii, au iskani. Inafanya kazi mara moja na inaonyeshwa sasa tu.",
    ),
    ("claim.expires", "Valid until", "Halali hadi"),
    ("claim.back", "Back to the sites", "Rudi kwenye vituo"),
    ("nav.vouchers", "Vouchers", "Vocha"),
    ("v.title", "Vouchers", "Vocha"),
    ("v.filter", "Show", "Onyesha"),
    ("v.site", "Site", "Kituo"),
    ("v.any", "Any", "Yoyote"),
    ("v.batch", "Batch", "Kundi"),
    ("v.status", "Status", "Hali"),
    ("v.code", "Code", "Nambari"),
    ("v.price", "Price", "Bei"),
    ("v.created", "Created", "Iliundwa"),
    (
        "v.none",
        "No vouchers match.",
        "Hakuna vocha zinazolingana.",
    ),
    ("v.next", "Next page", "Ukurasa unaofuata"),
    ("v.print_a4", "Print A4 sheet", "Chapisha karatasi ya A4"),
    (
        "v.print_slip",
        "Print 80 mm slips",
        "Chapisha vipande vya mm 80",
    ),
    ("v.new", "New batch", "Kundi jipya"),
    ("v.package", "Package", "Kifurushi"),
    ("v.count", "How many", "Ngapi"),
    (
        "v.valid_days",
        "Days until unused vouchers expire",
        "Siku hadi vocha ambazo hazijatumika ziishe",
    ),
    ("v.create", "Create the vouchers", "Unda vocha"),
    (
        "v.invalid",
        "The batch was not created:",
        "Kundi halikuundwa:",
    ),
    ("v.wifi", "WiFi", "WiFi"),
    ("v.valid_until", "Valid until", "Halali hadi"),
    ("v.print", "Print", "Chapisha"),
    ("v.pick", "Select", "Chagua"),
    (
        "v.pick_hint",
        "Tick vouchers below (up to 200), then:",
        "Chagua vocha hapa chini (hadi 200), kisha:",
    ),
    (
        "v.print_picked_a4",
        "Print selected (A4)",
        "Chapisha zilizochaguliwa (A4)",
    ),
    (
        "v.print_picked_slip",
        "Print selected (80 mm)",
        "Chapisha zilizochaguliwa (80 mm)",
    ),
    (
        "v.pick_none",
        "Nothing was printed: tick at least one voucher first.",
        "Hakuna kilichochapishwa: chagua angalau vocha moja kwanza.",
    ),
    (
        "v.pick_too_many",
        "Nothing was printed: at most 200 vouchers can be printed at once.",
        "Hakuna kilichochapishwa: vocha zisizozidi 200 zinaweza kuchapishwa kwa wakati mmoja.",
    ),
    (
        "v.pick_bad",
        "Nothing was printed: a selected voucher is not a voucher of this list.",
        "Hakuna kilichochapishwa: vocha iliyochaguliwa si vocha ya orodha hii.",
    ),
    ("v.st_unused", "unused", "haijatumika"),
    ("v.st_used", "used", "imetumika"),
    ("v.st_revoked", "revoked", "imebatilishwa"),
    ("v.st_expired", "expired", "imeisha muda"),
    ("v.revoke", "Revoke", "Batilisha"),
    ("v.export", "Export CSV", "Hamisha CSV"),
    ("v.actions", "Actions", "Vitendo"),
    (
        "v.already_revoked",
        "That voucher is no longer unused; nothing was changed.",
        "Vocha hiyo si ambayo haijatumika tena; hakuna kilichobadilishwa.",
    ),
    ("nav.payments", "Payments", "Malipo"),
    ("pay.title", "M-Pesa payments", "Malipo ya M-Pesa"),
    ("pay.when", "Time", "Wakati"),
    ("pay.phone", "Phone", "Simu"),
    ("pay.amount", "Amount (KES)", "Kiasi (KES)"),
    ("pay.package", "Package", "Kifurushi"),
    ("pay.receipt", "Receipt", "Risiti"),
    ("pay.review", "Needs review", "Inahitaji ukaguzi"),
    ("pay.st_pending", "pending", "inasubiri"),
    ("pay.st_paid", "paid", "imelipwa"),
    ("pay.st_failed", "failed", "imeshindikana"),
    ("pay.from", "From (date)", "Kuanzia (tarehe)"),
    (
        "pay.to",
        "Until (date, not included)",
        "Hadi (tarehe, haijajumuishwa)",
    ),
    (
        "pay.only_review",
        "Only those that need review",
        "Zile zinazohitaji ukaguzi tu",
    ),
    (
        "pay.none",
        "No payments match.",
        "Hakuna malipo yanayolingana.",
    ),
    (
        "pay.bad_filter",
        "A date must be written YYYY-MM-DD.",
        "Tarehe iandikwe YYYY-MM-DD.",
    ),
    (
        "pay.tab_stk",
        "Purchases at the sites",
        "Ununuzi kwenye vituo",
    ),
    ("pay.tab_c2b", "Paybill (C2B)", "Paybill (C2B)"),
    ("pay.query", "Query now", "Uliza sasa"),
    (
        "pay.q_paid",
        "M-Pesa says it was paid: the purchase is paid and its voucher issued.",
        "M-Pesa inasema imelipwa: ununuzi umelipwa na vocha yake imetolewa.",
    ),
    (
        "pay.q_failed",
        "M-Pesa says it did not go through: the purchase has failed.",
        "M-Pesa inasema haikufanikiwa: ununuzi umeshindikana.",
    ),
    (
        "pay.q_review",
        "M-Pesa's answer disagrees with the purchase: it is marked for review.",
        "Jibu la M-Pesa halilingani na ununuzi: umewekwa alama ya ukaguzi.",
    ),
    (
        "pay.q_pending",
        "M-Pesa has no result yet: the purchase stays pending and will be asked again.",
        "M-Pesa bado haina matokeo: ununuzi unaendelea kusubiri na utaulizwa tena.",
    ),
    (
        "pay.q_not_pending",
        "This purchase is no longer pending: nothing was asked.",
        "Ununuzi huu hausubiri tena: hakuna kilichoulizwa.",
    ),
    (
        "pay.q_no_checkout",
        "M-Pesa never answered this purchase's request: there is nothing to ask about.",
        "M-Pesa haikujibu ombi la ununuzi huu: hakuna cha kuuliza.",
    ),
    (
        "pay.q_busy",
        "This purchase is being queried right now: try again in a moment.",
        "Ununuzi huu unaulizwa sasa hivi: jaribu tena baada ya muda mfupi.",
    ),
    (
        "pay.q_no_settings",
        "M-Pesa is not set up: nothing was asked.",
        "M-Pesa haijawekwa: hakuna kilichoulizwa.",
    ),
    ("pay.apply_phone", "Client's phone", "Simu ya mteja"),
    ("pay.apply", "Credit their wallet", "Weka kwenye pochi yake"),
    (
        "pay.apply_bad_phone",
        "That is not a Kenyan mobile number. Nothing was credited.",
        "Hiyo si nambari ya simu ya Kenya. Hakuna kilichowekwa.",
    ),
    (
        "pay.apply_no_client",
        "No client has that phone or M-Pesa number. Nothing was credited.",
        "Hakuna mteja mwenye simu au nambari hiyo ya M-Pesa. Hakuna kilichowekwa.",
    ),
    (
        "pay.apply_done",
        "That payment was already applied. Nothing more was done.",
        "Malipo hayo yalishatumika. Hakuna kilichofanywa zaidi.",
    ),
    (
        "pay.apply_receipt",
        "That receipt was already credited to a wallet. Nothing more was done.",
        "Risiti hiyo ilishawekwa kwenye pochi. Hakuna kilichofanywa zaidi.",
    ),
    (
        "pay.c2b_q",
        "Receipt, account number or phone",
        "Risiti, nambari ya akaunti au simu",
    ),
    (
        "pay.c2b_intro",
        "Payments made from the phone's M-Pesa menu to the paybill, with the account number the payer typed.",
        "Malipo yaliyofanywa kutoka menyu ya M-Pesa ya simu kwenda paybill, na namba ya akaunti aliyoandika mlipaji.",
    ),
    (
        "pay.c2b_none",
        "No paybill payments yet.",
        "Bado hakuna malipo ya paybill.",
    ),
    ("pay.bill_ref", "Account number", "Namba ya akaunti"),
    ("pay.matched", "Matched to", "Imeunganishwa na"),
    ("pay.c2b_voucher", "voucher issued", "vocha imetolewa"),
    ("pay.c2b_wallet", "wallet credited", "pochi imeongezwa"),
    (
        "pay.c2b_unmatched",
        "unmatched: settle by hand",
        "haijaunganishwa: shughulikia kwa mkono",
    ),
    ("nav.sessions", "Guests online", "Wageni mtandaoni"),
    ("nav.devices", "Devices", "Vifaa"),
    (
        "ses.title",
        "Guests online now",
        "Wageni walio mtandaoni sasa",
    ),
    ("ses.mac", "Device (MAC)", "Kifaa (MAC)"),
    ("ses.kind", "Type", "Aina"),
    ("ses.voucher", "Voucher", "Vocha"),
    ("ses.started", "Started", "Ilianza"),
    ("ses.left", "Left (time · data)", "Imebaki (muda · data)"),
    ("ses.data", "Data (MB)", "Data (MB)"),
    ("ses.kick", "Disconnect", "Tenganisha"),
    ("ses.extend", "Extend", "Ongeza"),
    ("ses.minutes", "Minutes", "Dakika"),
    ("ses.megabytes", "MB", "MB"),
    (
        "ses.extend_invalid",
        "Give minutes (1 to 10080), data in MB (1 to 102400) or both to extend a session.",
        "Weka dakika (1 hadi 10080), data kwa MB (1 hadi 102400) au vyote viwili ili kuongeza kipindi.",
    ),
    (
        "ses.extend_refused",
        "This session cannot be extended: it has ended, or it runs on your own RADIUS server (send that server a CoA).",
        "Kipindi hiki hakiwezi kuongezwa: kimeisha, au kinaendeshwa na seva yako ya RADIUS (tuma CoA kwa seva hiyo).",
    ),
    ("ses.none", "Nobody is online.", "Hakuna aliye mtandaoni."),
    ("dev.title", "Registered devices", "Vifaa vilivyosajiliwa"),
    ("dev.name", "Name", "Jina"),
    ("dev.auto", "Auto-connect", "Unganisha kiotomatiki"),
    ("dev.blocked", "Blocked", "Imezuiwa"),
    ("dev.reason", "Reason", "Sababu"),
    ("dev.block", "Block", "Zuia"),
    ("dev.unblock", "Unblock", "Ondoa kizuizi"),
    ("dev.yes", "yes", "ndiyo"),
    ("dev.no", "no", "hapana"),
    ("dev.edit", "Edit device", "Hariri kifaa"),
    ("dev.add", "Add a device", "Ongeza kifaa"),
    ("dev.add_button", "Add the device", "Ongeza kifaa"),
    ("dev.client", "Client", "Mteja"),
    ("dev.every_site", "Every site", "Kila kituo"),
    ("dev.bandwidth", "Bandwidth (Mbit/s)", "Kasi (Mbit/s)"),
    (
        "dev.not_added",
        "The device was not added:",
        "Kifaa hakikuongezwa:",
    ),
    ("dev.back", "Back to the devices", "Rudi kwenye vifaa"),
    (
        "dev.none",
        "No registered devices.",
        "Hakuna vifaa vilivyosajiliwa.",
    ),
    (
        "dev.reason_needed",
        "Give a reason (1 to 1000 characters) to block a device.",
        "Toa sababu (herufi 1 hadi 1000) ili kuzuia kifaa.",
    ),
    ("nav.signout", "Sign out", "Toka"),
    ("nav.signout_all", "Sign out everywhere", "Toka kila mahali"),
    ("nav.language", "Language", "Lugha"),
    ("signin.title", "Sign in", "Ingia"),
    ("signin.email", "E-mail address", "Anwani ya barua pepe"),
    ("signin.password", "Password", "Nenosiri"),
    (
        "signin.tenant",
        "Organisation (only if asked)",
        "Shirika (ikiulizwa tu)",
    ),
    ("signin.submit", "Sign in", "Ingia"),
    (
        "signin.wrong",
        "Wrong e-mail address or password.",
        "Barua pepe au nenosiri si sahihi.",
    ),
    (
        "signin.throttled",
        "Too many attempts. Wait a few minutes and try again.",
        "Majaribio mengi mno. Subiri dakika chache kisha ujaribu tena.",
    ),
    (
        "signin.invalid",
        "Enter an e-mail address and a password.",
        "Weka anwani ya barua pepe na nenosiri.",
    ),
    (
        "signin.several",
        "This address has accounts at several organisations: name the organisation.",
        "Anwani hii ina akaunti katika mashirika kadhaa: taja shirika.",
    ),
    ("signin.code_title", "One-time code", "Nambari ya mara moja"),
    (
        "signin.code",
        "The 6-digit code from your authenticator app",
        "Nambari ya tarakimu 6 kutoka programu yako ya uthibitishaji",
    ),
    (
        "signin.code_wrong",
        "Wrong or expired code.",
        "Nambari si sahihi au imepitwa na wakati.",
    ),
    ("signin.code_submit", "Continue", "Endelea"),
    ("error.title", "Something went wrong", "Hitilafu imetokea"),
    (
        "error.forbidden",
        "Your role does not allow this.",
        "Jukumu lako haliruhusu hili.",
    ),
    ("error.not_found", "Not found.", "Haikupatikana."),
    (
        "error.csrf",
        "This form has expired or did not come from this console. Go back, reload the page and try again.",
        "Fomu hii imepitwa na wakati au haikutoka kwenye dashibodi hii. Rudi, pakia upya ukurasa na ujaribu tena.",
    ),
    (
        "error.internal",
        "The server could not do this. Try again later.",
        "Seva imeshindwa kufanya hili. Jaribu tena baadaye.",
    ),
    (
        "error.busy",
        "The server is busy. Try again in a moment.",
        "Seva ina shughuli nyingi. Jaribu tena baada ya muda mfupi.",
    ),
    (
        "error.back",
        "Back to the dashboard",
        "Rudi kwenye dashibodi",
    ),
    ("dash.title", "Dashboard", "Dashibodi"),
    ("dash.revenue_today", "Revenue today", "Mapato leo"),
    ("dash.revenue_week", "Revenue, 7 days", "Mapato, siku 7"),
    (
        "dash.revenue_month",
        "Revenue this month",
        "Mapato mwezi huu",
    ),
    (
        "dash.guests_now",
        "Guests online now",
        "Wageni mtandaoni sasa",
    ),
    (
        "dash.sites_online",
        "Sites online",
        "Vituo vilivyo mtandaoni",
    ),
    (
        "dash.sites_offline",
        "Sites offline",
        "Vituo visivyo mtandaoni",
    ),
    (
        "dash.stock",
        "Unused vouchers per package",
        "Vocha ambazo hazijatumika kwa kila kifurushi",
    ),
    ("dash.package", "Package", "Kifurushi"),
    ("dash.unused", "Unused", "Hazijatumika"),
    (
        "dash.no_stock",
        "No unused vouchers.",
        "Hakuna vocha ambazo hazijatumika.",
    ),
    (
        "dash.chart_revenue",
        "Revenue per day, last 30 days (KES)",
        "Mapato kwa siku, siku 30 zilizopita (KES)",
    ),
    (
        "dash.chart_sessions",
        "Guest sessions per day, last 30 days",
        "Vipindi vya wageni kwa siku, siku 30 zilizopita",
    ),
    ("dash.top_sites", "Sites", "Vituo"),
    ("dash.site", "Site", "Kituo"),
    ("dash.status", "Status", "Hali"),
    ("dash.last_seen", "Last seen", "Ilionekana mwisho"),
    ("dash.guests", "Guests now", "Wageni sasa"),
    ("dash.online", "online", "mtandaoni"),
    ("dash.offline", "offline", "nje ya mtandao"),
    ("dash.never", "never", "haijawahi"),
    ("dash.no_sites", "No sites yet.", "Bado hakuna vituo."),
    // Settings: an account's several roles (ticked boxes), the paged and searched lists of
    // accounts and NAS.
    ("set.role_tenant_admin", "Administrator", "Msimamizi"),
    (
        "set.role_noc_engineer",
        "Network engineer (NOC)",
        "Mhandisi wa mtandao (NOC)",
    ),
    (
        "set.role_support_agent",
        "Support agent",
        "Wakala wa huduma",
    ),
    (
        "set.role_field_tech",
        "Field technician",
        "Fundi wa eneo la kazi",
    ),
    ("set.role_other", "Other role", "Jukumu jingine"),
    (
        "set.roles_help",
        "Tick one role or more.",
        "Chagua jukumu moja au zaidi.",
    ),
    ("set.save_roles", "Save the roles", "Hifadhi majukumu"),
    ("set.user_search", "E-mail or name", "Barua pepe au jina"),
    ("set.nas_search", "Address or name", "Anwani au jina"),
    (
        "set.no_users",
        "No accounts found.",
        "Hakuna akaunti zilizopatikana.",
    ),
    (
        "set.no_nas_found",
        "No NAS found.",
        "Hakuna NAS iliyopatikana.",
    ),
    ("set.first_page", "First page", "Ukurasa wa kwanza"),
    // The account page and its second factor (TOTP).
    ("nav.account", "Your account", "Akaunti yako"),
    ("acct.title", "Your account", "Akaunti yako"),
    (
        "acct.mfa",
        "Two-step sign-in (one-time codes)",
        "Kuingia kwa hatua mbili (nambari za mara moja)",
    ),
    ("acct.on", "On", "Imewashwa"),
    ("acct.off", "Off", "Imezimwa"),
    (
        "acct.on_help",
        "Signing in asks for a code from your authenticator app after the password. To turn this off, enter a current code.",
        "Kuingia kunauliza nambari kutoka programu yako ya uthibitishaji baada ya nenosiri. Ili kuzima hili, weka nambari ya sasa.",
    ),
    (
        "acct.off_help",
        "Protect your account with an authenticator app (such as Google Authenticator, Microsoft Authenticator or FreeOTP): signing in will then ask for its 6-digit code after the password.",
        "Linda akaunti yako kwa programu ya uthibitishaji (kama Google Authenticator, Microsoft Authenticator au FreeOTP): kuingia kutauliza nambari yake ya tarakimu 6 baada ya nenosiri.",
    ),
    (
        "acct.start",
        "Set up two-step sign-in",
        "Weka kuingia kwa hatua mbili",
    ),
    (
        "acct.step_scan",
        "Scan this QR code with your authenticator app, or type the key below into it.",
        "Changanua msimbo huu wa QR kwa programu yako ya uthibitishaji, au andika ufunguo ulio hapa chini ndani yake.",
    ),
    (
        "acct.step_code",
        "Enter the 6-digit code the app shows to turn two-step sign-in on.",
        "Weka nambari ya tarakimu 6 ambayo programu inaonyesha ili kuwasha kuingia kwa hatua mbili.",
    ),
    (
        "acct.qr",
        "QR code of the key for your authenticator app",
        "Msimbo wa QR wa ufunguo kwa programu yako ya uthibitishaji",
    ),
    (
        "acct.key",
        "Key (to type in instead of scanning):",
        "Ufunguo (wa kuandika badala ya kuchanganua):",
    ),
    ("acct.turn_on", "Turn on", "Washa"),
    (
        "acct.restart",
        "Start again with a new key",
        "Anza upya kwa ufunguo mpya",
    ),
    (
        "acct.current_code",
        "A current 6-digit code from your authenticator app",
        "Nambari ya sasa ya tarakimu 6 kutoka programu yako ya uthibitishaji",
    ),
    (
        "acct.turn_off",
        "Turn two-step sign-in off",
        "Zima kuingia kwa hatua mbili",
    ),
    (
        "acct.code_wrong",
        "Wrong or expired code: nothing was changed. Check the time on your phone and try the code now shown.",
        "Nambari si sahihi au imepitwa na wakati: hakuna kilichobadilishwa. Angalia saa ya simu yako na ujaribu nambari inayoonyeshwa sasa.",
    ),
    (
        "acct.codes_title",
        "Your recovery codes",
        "Nambari zako za kurejesha",
    ),
    (
        "acct.codes_help",
        "Keep these somewhere safe, away from your phone. Each signs you in once in place of a code from the app. They are shown only now.",
        "Zihifadhi mahali salama, mbali na simu yako. Kila moja inakuingiza mara moja badala ya nambari ya programu. Zinaonyeshwa sasa tu.",
    ),
    (
        "acct.codes_left",
        "Recovery codes not yet used:",
        "Nambari za kurejesha ambazo bado hazijatumika:",
    ),
    (
        "acct.codes_regen",
        "Make new recovery codes (the old ones stop working)",
        "Tengeneza nambari mpya za kurejesha (za zamani zinaacha kufanya kazi)",
    ),
    (
        "acct.codes_new",
        "New recovery codes were made: the old ones no longer work.",
        "Nambari mpya za kurejesha zimetengenezwa: za zamani hazifanyi kazi tena.",
    ),
    (
        "signin.or_recovery",
        "Lost your phone? Enter one of your recovery codes instead.",
        "Umepoteza simu yako? Weka mojawapo ya nambari zako za kurejesha badala yake.",
    ),
    (
        "set.mfa_reset",
        "Reset two-step sign-in (signs them out)",
        "Weka upya kuingia kwa hatua mbili (kunamtoa)",
    ),
    (
        "acct.now_on",
        "Two-step sign-in is on: signing in now asks for a code.",
        "Kuingia kwa hatua mbili kumewashwa: kuingia sasa kunauliza nambari.",
    ),
    (
        "acct.now_off",
        "Two-step sign-in is off.",
        "Kuingia kwa hatua mbili kumezimwa.",
    ),
    (
        "acct.already_on",
        "Two-step sign-in is already on. To use another app, turn it off first.",
        "Kuingia kwa hatua mbili tayari kumewashwa. Ili kutumia programu nyingine, zima kwanza.",
    ),
    (
        "acct.not_started",
        "Start the setup first.",
        "Anza kuweka kwanza.",
    ),
    (
        "acct.not_on",
        "Two-step sign-in is not on.",
        "Kuingia kwa hatua mbili hakujawashwa.",
    ),
    // A site's own portal branding (the site page; administrators only).
    (
        "site.brand",
        "Portal branding of this site",
        "Mwonekano wa ukurasa wa kuingia wa tovuti hii",
    ),
    (
        "site.brand_help",
        "A field left empty uses the organisation's branding (shown greyed in it). Only this site's router takes the change, on its next sync.",
        "Sehemu iliyoachwa wazi inatumia mwonekano wa shirika (unaoonyeshwa kwa kijivu ndani yake). Ni ruta ya tovuti hii pekee inayochukua mabadiliko, katika usawazishaji wake ujao.",
    ),
    (
        "site.brand_overridden",
        "This site has its own branding, over the organisation's.",
        "Tovuti hii ina mwonekano wake, juu ya ule wa shirika.",
    ),
    (
        "site.brand_inherited",
        "This site uses the organisation's branding.",
        "Tovuti hii inatumia mwonekano wa shirika.",
    ),
    (
        "site.brand_shows",
        "Its router shows:",
        "Ruta yake inaonyesha:",
    ),
    (
        "site.brand_nothing",
        "Nothing to send yet: the organisation has no branding, so this site needs its own title, welcome text and colour.",
        "Hakuna cha kutuma bado: shirika halina mwonekano, kwa hiyo tovuti hii inahitaji kichwa, ujumbe wa karibu na rangi yake.",
    ),
    (
        "site.brand_save",
        "Save this site's branding",
        "Hifadhi mwonekano wa tovuti hii",
    ),
    (
        "site.brand_own_logo",
        "This site's logo",
        "Nembo ya tovuti hii",
    ),
    (
        "site.brand_reset",
        "Use the organisation's branding",
        "Tumia mwonekano wa shirika",
    ),
    // Clients (subscribers) and support tickets.
    ("nav.clients", "Clients", "Wateja"),
    ("nav.tickets", "Tickets", "Tiketi"),
    ("cl.title", "Clients", "Wateja"),
    (
        "cl.search",
        "Name, phone or account",
        "Jina, simu au nambari ya akaunti",
    ),
    ("cl.find", "Search", "Tafuta"),
    (
        "cl.none",
        "No clients found.",
        "Hakuna wateja waliopatikana.",
    ),
    ("cl.name", "Name", "Jina"),
    ("cl.phone", "Phone", "Simu"),
    ("cl.account", "Account", "Akaunti"),
    ("cl.package", "Package", "Kifurushi"),
    ("cl.expires", "Paid until", "Imelipiwa hadi"),
    ("cl.balance", "Wallet (KES)", "Pochi (KES)"),
    (
        "cl.bad_search",
        "The search is too long or contains characters it cannot use.",
        "Utafutaji ni mrefu mno au una herufi zisizoweza kutumika.",
    ),
    ("cl.back", "All clients", "Wateja wote"),
    ("cl.mpesa", "M-Pesa number", "Nambari ya M-Pesa"),
    ("cl.email", "E-mail", "Barua pepe"),
    ("cl.type", "Type", "Aina"),
    ("cl.rate", "Renewal price (KES)", "Bei ya kuhuisha (KES)"),
    (
        "cl.auto_renewal",
        "Renews automatically",
        "Huhuishwa kiotomatiki",
    ),
    ("cl.starts", "Period started", "Kipindi kilianza"),
    ("cl.suspension", "Suspended since", "Imesimamishwa tangu"),
    ("cl.actions", "Wallet", "Pochi"),
    ("cl.credit", "Credit the wallet", "Ongeza pesa kwenye pochi"),
    ("cl.amount", "Amount (KES)", "Kiasi (KES)"),
    ("cl.receipt", "M-Pesa receipt", "Risiti ya M-Pesa"),
    ("cl.reference", "Reference", "Kumbukumbu"),
    ("cl.description", "Description", "Maelezo"),
    (
        "cl.receipt_once",
        "A receipt can be credited only once. A reference is not checked.",
        "Risiti inaweza kuwekwa mara moja tu. Kumbukumbu haikaguliwi.",
    ),
    ("cl.credit_button", "Credit", "Weka pesa"),
    (
        "cl.renew",
        "Renew from the wallet",
        "Huisha kutoka kwenye pochi",
    ),
    (
        "cl.renew_help",
        "Starts the next period now or when the present one ends, and takes its price from the wallet:",
        "Huanza kipindi kijacho sasa au kipindi cha sasa kikiisha, na kutoa bei yake kwenye pochi:",
    ),
    ("cl.renew_button", "Renew", "Huisha"),
    (
        "cl.transactions",
        "Recent wallet transactions",
        "Miamala ya karibuni ya pochi",
    ),
    (
        "cl.no_transactions",
        "No wallet transactions.",
        "Hakuna miamala ya pochi.",
    ),
    ("cl.kind", "Kind", "Aina"),
    (
        "cl.credited",
        "The wallet was credited.",
        "Pesa imewekwa kwenye pochi.",
    ),
    (
        "cl.renewed",
        "The package was renewed.",
        "Kifurushi kimehuishwa.",
    ),
    (
        "cl.bad_amount",
        "The amount must be a positive number of shillings with at most two decimals. Nothing was credited.",
        "Kiasi lazima kiwe idadi chanya ya shilingi yenye desimali mbili au chache. Hakuna kilichowekwa.",
    ),
    (
        "cl.too_long",
        "A receipt or reference may have at most 255 characters, a description 500. Nothing was credited.",
        "Risiti au kumbukumbu isizidi herufi 255, maelezo yasizidi 500. Hakuna kilichowekwa.",
    ),
    (
        "cl.receipt_seen",
        "This receipt was already credited. Nothing was credited again.",
        "Risiti hii tayari imewekwa. Hakuna kilichowekwa tena.",
    ),
    (
        "cl.renew_short",
        "The wallet holds less than the renewal price. Nothing was renewed.",
        "Pochi ina pesa kidogo kuliko bei ya kuhuisha. Hakuna kilichohuishwa.",
    ),
    (
        "cl.renew_no_rate",
        "This client has no renewal price (neither their own nor their package's). Nothing was renewed.",
        "Mteja huyu hana bei ya kuhuisha (yake wala ya kifurushi). Hakuna kilichohuishwa.",
    ),
    (
        "cl.renew_refused",
        "The renewal was refused. Nothing was renewed.",
        "Kuhuisha kumekataliwa. Hakuna kilichohuishwa.",
    ),
    ("cl.st_pending", "pending", "inasubiri"),
    ("cl.st_approved", "approved", "imeidhinishwa"),
    ("cl.st_active", "active", "hai"),
    ("cl.st_suspended", "suspended", "imesimamishwa"),
    ("cl.st_disconnected", "disconnected", "imekatwa"),
    ("cl.st_unknown", "unknown", "haijulikani"),
    ("tk.title", "Support tickets", "Tiketi za msaada"),
    ("tk.none", "No tickets.", "Hakuna tiketi."),
    (
        "tk.bad_filter",
        "That status is not one a ticket can have.",
        "Hali hiyo si mojawapo ya hali za tiketi.",
    ),
    ("tk.number", "Number", "Nambari"),
    ("tk.subject", "Subject", "Mada"),
    ("tk.client", "Client", "Mteja"),
    ("tk.priority", "Priority", "Kipaumbele"),
    ("tk.opened", "Opened", "Ilifunguliwa"),
    ("tk.back", "All tickets", "Tiketi zote"),
    ("tk.kind", "Kind", "Aina"),
    ("tk.source", "Came by", "Ilikuja kupitia"),
    ("tk.created_by", "Opened by", "Ilifunguliwa na"),
    ("tk.assigned_to", "Assigned to", "Imekabidhiwa kwa"),
    ("tk.resolved_at", "Resolved", "Ilitatuliwa"),
    ("tk.replies", "Replies", "Majibu"),
    ("tk.no_replies", "No replies yet.", "Bado hakuna majibu."),
    ("tk.internal", "staff note", "dokezo la wafanyakazi"),
    ("tk.resolution", "resolution", "suluhisho"),
    ("tk.reply", "Reply", "Jibu"),
    (
        "tk.internal_note",
        "A note for the staff only",
        "Dokezo kwa wafanyakazi pekee",
    ),
    ("tk.send", "Send the reply", "Tuma jibu"),
    ("tk.change_status", "Status", "Hali"),
    ("tk.save_status", "Change the status", "Badilisha hali"),
    ("tk.reopen", "Reopen", "Fungua tena"),
    ("tk.close", "Close the ticket", "Funga tiketi"),
    ("tk.replied", "The reply was added.", "Jibu limeongezwa."),
    (
        "tk.status_changed",
        "The status was changed.",
        "Hali imebadilishwa.",
    ),
    (
        "tk.bad_reply",
        "A reply needs some text, at most 10,000 characters. Nothing was added.",
        "Jibu linahitaji maandishi, yasiyozidi herufi 10,000. Hakuna kilichoongezwa.",
    ),
    (
        "tk.bad_status",
        "That status is not one a ticket can have. Nothing was changed.",
        "Hali hiyo si mojawapo ya hali za tiketi. Hakuna kilichobadilishwa.",
    ),
    ("cl.new", "New client", "Mteja mpya"),
    ("cl.edit", "Edit client", "Hariri mteja"),
    ("cl.create_button", "Add the client", "Ongeza mteja"),
    ("cl.save_button", "Save the changes", "Hifadhi mabadiliko"),
    ("cl.created", "The client was added.", "Mteja ameongezwa."),
    (
        "cl.saved",
        "The changes were saved.",
        "Mabadiliko yamehifadhiwa.",
    ),
    ("cl.connection", "Connection", "Muunganisho"),
    ("cl.address", "Address", "Anwani"),
    ("cl.no_package", "No package", "Hakuna kifurushi"),
    (
        "cl.bad_name",
        "A name is needed, of at most 255 characters. Nothing was saved.",
        "Jina linahitajika, lisizidi herufi 255. Hakuna kilichohifadhiwa.",
    ),
    (
        "cl.bad_phone",
        "The phone number is not a Kenyan mobile number (such as 0712345678). Nothing was saved.",
        "Namba ya simu si namba ya simu ya Kenya (kama 0712345678). Hakuna kilichohifadhiwa.",
    ),
    (
        "cl.bad_mpesa",
        "The M-Pesa number is not a Kenyan mobile number. Nothing was saved.",
        "Namba ya M-Pesa si namba ya simu ya Kenya. Hakuna kilichohifadhiwa.",
    ),
    (
        "cl.bad_email",
        "The e-mail address does not read as one. Nothing was saved.",
        "Anwani ya barua pepe haisomeki. Hakuna kilichohifadhiwa.",
    ),
    (
        "cl.bad_choice",
        "A choice is not one of the list's. Nothing was saved.",
        "Chaguo moja si la orodha. Hakuna kilichohifadhiwa.",
    ),
    (
        "cl.bad_package",
        "That package is not one of yours. Nothing was saved.",
        "Kifurushi hicho si chako. Hakuna kilichohifadhiwa.",
    ),
    (
        "cl.bad_address",
        "An address may have at most 1,000 characters. Nothing was saved.",
        "Anwani isizidi herufi 1,000. Hakuna kilichohifadhiwa.",
    ),
    (
        "cl.bad_key",
        "This form was sent before or is out of date: nothing more was done. Check the wallet below, then use the page as it is now.",
        "Fomu hii ilitumwa awali au imepitwa na wakati: hakuna kilichofanywa zaidi. Angalia pochi hapa chini, kisha tumia ukurasa ulivyo sasa.",
    ),
    (
        "cl.bad_reason",
        "A reason for suspending may have at most 500 characters on one line. Nothing was saved.",
        "Sababu ya kusimamisha isizidi herufi 500 kwenye mstari mmoja. Hakuna kilichohifadhiwa.",
    ),
    (
        "cl.suspension_reason",
        "Reason for suspending (when suspended; their devices are blocked until it ends)",
        "Sababu ya kusimamisha (akisimamishwa; vifaa vyake vinazuiwa hadi kumalizika)",
    ),
    (
        "cl.refused",
        "The client could not be saved as typed. Nothing was saved.",
        "Mteja hakuweza kuhifadhiwa kama ilivyoandikwa. Hakuna kilichohifadhiwa.",
    ),
    ("tk.new", "New ticket", "Tiketi mpya"),
    ("tk.create_button", "Open the ticket", "Fungua tiketi"),
    (
        "tk.created",
        "The ticket was opened.",
        "Tiketi imefunguliwa.",
    ),
    ("tk.description", "What happened", "Kilichotokea"),
    (
        "tk.client_phone",
        "Client's phone number (empty: no client)",
        "Namba ya simu ya mteja (tupu: hakuna mteja)",
    ),
    (
        "tk.bad_title",
        "A subject is needed, of at most 255 characters. Nothing was saved.",
        "Kichwa kinahitajika, kisizidi herufi 255. Hakuna kilichohifadhiwa.",
    ),
    (
        "tk.bad_description",
        "Say what happened, in at most 10,000 characters. Nothing was saved.",
        "Eleza kilichotokea, kwa herufi zisizozidi 10,000. Hakuna kilichohifadhiwa.",
    ),
    (
        "tk.no_such_client",
        "No client has that phone number. Nothing was saved.",
        "Hakuna mteja mwenye namba hiyo ya simu. Hakuna kilichohifadhiwa.",
    ),
    (
        "tk.refused",
        "The ticket could not be saved as typed. Nothing was saved.",
        "Tiketi haikuweza kuhifadhiwa kama ilivyoandikwa. Hakuna kilichohifadhiwa.",
    ),
    (
        "tk.busy",
        "Another ticket was opened at the same moment. Nothing was saved: send it again.",
        "Tiketi nyingine ilifunguliwa wakati huo huo. Hakuna kilichohifadhiwa: tuma tena.",
    ),
    ("tk.st_open", "open", "wazi"),
    ("tk.st_in_progress", "in progress", "inashughulikiwa"),
    ("tk.st_pending", "waiting", "inasubiri"),
    ("tk.st_resolved", "resolved", "imetatuliwa"),
    ("tk.st_closed", "closed", "imefungwa"),
    ("tk.pr_low", "low", "chini"),
    ("tk.pr_medium", "medium", "wastani"),
    ("tk.pr_high", "high", "juu"),
    ("tk.pr_urgent", "urgent", "dharura"),
    // Staff messages (`messages.rs`): the list, a message and its thread, new ones, replies.
    ("nav.messages", "Messages", "Ujumbe"),
    ("msg.title", "Messages", "Ujumbe"),
    ("msg.new", "New message", "Ujumbe mpya"),
    ("msg.none", "No messages.", "Hakuna ujumbe."),
    ("msg.show", "Which messages", "Ujumbe upi"),
    ("msg.f_all", "all", "zote"),
    ("msg.f_received", "received", "zilizopokelewa"),
    ("msg.f_sent", "sent", "zilizotumwa"),
    ("msg.f_unread", "unread", "hazijasomwa"),
    (
        "msg.bad_filter",
        "That is not a filter of this list.",
        "Hicho si kichujio cha orodha hii.",
    ),
    ("msg.unread_count", "Unread", "Hazijasomwa"),
    ("msg.unread", "unread", "haujasomwa"),
    ("msg.sent", "sent", "umetumwa"),
    ("msg.from", "From", "Kutoka"),
    ("msg.to", "To", "Kwa"),
    ("msg.sent_at", "Sent", "Ulitumwa"),
    ("msg.back", "All messages", "Ujumbe wote"),
    ("msg.thread", "Conversation", "Mazungumzo"),
    ("msg.reply_to", "Reply to", "Jibu kwa"),
    ("msg.send_reply", "Send the reply", "Tuma jibu"),
    ("msg.send", "Send the message", "Tuma ujumbe"),
    ("msg.content", "Message", "Ujumbe"),
    ("msg.choose", "Choose a colleague", "Chagua mwenzako"),
    (
        "msg.nobody",
        "There is no other active staff member to write to.",
        "Hakuna mfanyakazi mwingine aliye hai wa kumwandikia.",
    ),
    (
        "msg.sent_notice",
        "The message was sent.",
        "Ujumbe umetumwa.",
    ),
    ("msg.replied", "The reply was sent.", "Jibu limetumwa."),
    ("msg.delete", "Delete the message", "Futa ujumbe"),
    (
        "msg.deleted",
        "The message was deleted.",
        "Ujumbe umefutwa.",
    ),
    (
        "msg.bad_recipient",
        "Choose an active colleague to write to. Nothing was sent.",
        "Chagua mwenzako aliye hai wa kumwandikia. Hakuna kilichotumwa.",
    ),
    (
        "msg.bad_subject",
        "The subject must be 1 to 200 characters on one line. Nothing was sent.",
        "Mada lazima iwe herufi 1 hadi 200 kwenye mstari mmoja. Hakuna kilichotumwa.",
    ),
    (
        "msg.bad_content",
        "The message must be 1 to 5,000 characters. Nothing was sent.",
        "Ujumbe lazima uwe herufi 1 hadi 5,000. Hakuna kilichotumwa.",
    ),
    (
        "msg.refused",
        "The message could not be sent as typed. Nothing was sent.",
        "Ujumbe haukuweza kutumwa kama ulivyoandikwa. Hakuna kilichotumwa.",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_heaviest_language_we_speak() {
        assert_eq!(accept_language("sw-KE,sw;q=0.9,en;q=0.8"), Lang::Sw);
        assert_eq!(accept_language("en-GB,sw;q=0.5"), Lang::En);
        assert_eq!(accept_language("fr,sw;q=0.4"), Lang::Sw);
        assert_eq!(accept_language("fr"), Lang::En);
        assert_eq!(accept_language(""), Lang::En);
        assert_eq!(accept_language("sw;q=0"), Lang::En);
    }

    #[test]
    fn every_message_id_is_unique_and_translated() {
        let mut ids = std::collections::HashSet::new();
        for (id, en, sw) in CATALOGUE {
            assert!(ids.insert(*id), "{id} twice");
            assert!(!en.is_empty() && !sw.is_empty(), "{id} untranslated");
        }
    }

    /// Every `t.get("…")` in the templates names a message of the catalogue.
    #[test]
    fn the_templates_use_only_ids_of_the_catalogue() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/console");
        let mut used = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            for piece in text.split("t.get(\"").skip(1) {
                let id = piece.split('"').next().unwrap();
                assert!(
                    lookup(Lang::En, id).is_some(),
                    "{} uses {id}, not in the catalogue",
                    path.display()
                );
                used += 1;
            }
        }
        assert!(used > 10);
    }
}
