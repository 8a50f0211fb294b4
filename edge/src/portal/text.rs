//! Every sentence the portal shows, in English and Kiswahili.

use crate::config::Language;
use crate::vouchers::Refusal;

/// The fixed strings of one language.
#[derive(Debug)]
pub struct Text {
    pub code_label: &'static str,
    pub connect: &'static str,
    pub online_title: &'static str,
    pub time_left: &'static str,
    pub data_left: &'static str,
    pub unlimited: &'static str,
    pub data_used: &'static str,
    pub log_out: &'static str,
    pub logged_out: &'static str,
    pub blocked_title: &'static str,
    pub blocked_no_reason: &'static str,
    pub help: &'static str,
    pub no_device: &'static str,
    pub no_lease: &'static str,
    pub unknown: &'static str,
    pub wrong_hotspot: &'static str,
    pub used_up: &'static str,
    pub bad_form: &'static str,
    pub try_again: &'static str,
    /// The language's own name, on the link that switches to it.
    pub language: &'static str,
}

pub static EN: Text = Text {
    code_label: "Voucher code",
    connect: "Connect",
    online_title: "You are online",
    time_left: "Time left",
    data_left: "Data left",
    unlimited: "no limit",
    data_used: "Data used",
    log_out: "Log out",
    logged_out: "You are logged out.",
    blocked_title: "This device is blocked",
    blocked_no_reason: "Ask the staff here for help.",
    help: "Help",
    no_device: "We cannot identify your device. Turn WiFi off and on again, then reload this page.",
    no_lease: "Your device did not get its address from this WiFi. Turn WiFi off and on again, then reload this page.",
    unknown: "This voucher code does not exist. Check it and try again.",
    wrong_hotspot: "This voucher belongs to another hotspot.",
    used_up: "This voucher has been used up.",
    bad_form: "The form was not sent correctly. Reload the page and try again.",
    try_again: "Something went wrong on our side. Please try again in a moment.",
    language: "English",
};

pub static SW: Text = Text {
    code_label: "Nambari ya vocha",
    connect: "Unganisha",
    online_title: "Umeunganishwa",
    time_left: "Muda uliobaki",
    data_left: "Data iliyobaki",
    unlimited: "bila kikomo",
    data_used: "Data iliyotumika",
    log_out: "Ondoka",
    logged_out: "Umeondoka.",
    blocked_title: "Kifaa hiki kimezuiwa",
    blocked_no_reason: "Uliza wahudumu hapa wakusaidie.",
    help: "Msaada",
    no_device: "Hatuwezi kutambua kifaa chako. Zima WiFi na uiwashe tena, kisha pakia upya ukurasa huu.",
    no_lease: "Kifaa chako hakikupata anwani yake kutoka WiFi hii. Zima WiFi na uiwashe tena, kisha pakia upya ukurasa huu.",
    unknown: "Nambari hii ya vocha haipo. Iangalie na ujaribu tena.",
    wrong_hotspot: "Vocha hii ni ya hotspot nyingine.",
    used_up: "Vocha hii imeshatumika yote.",
    bad_form: "Fomu haikutumwa vizuri. Pakia upya ukurasa na ujaribu tena.",
    try_again: "Kuna hitilafu upande wetu. Tafadhali jaribu tena baada ya muda mfupi.",
    language: "Kiswahili",
};

pub fn text(lang: Language) -> &'static Text {
    match lang {
        Language::English => &EN,
        Language::Swahili => &SW,
    }
}

/// The sentence for a refused voucher.
pub fn refusal(lang: Language, r: &Refusal) -> String {
    let t = text(lang);
    match (r, lang) {
        (Refusal::Unknown, _) => t.unknown.into(),
        (Refusal::WrongHotspot, _) => t.wrong_hotspot.into(),
        (Refusal::UsedUp, _) => t.used_up.into(),
        (Refusal::Expired { at }, Language::English) => {
            format!(
                "This voucher expired on {}.",
                crate::clock::datetime_of(*at)
            )
        }
        (Refusal::Expired { at }, Language::Swahili) => {
            format!(
                "Muda wa vocha hii uliisha {}.",
                crate::clock::datetime_of(*at)
            )
        }
        (Refusal::TooManyDevices { max }, Language::English) => format!(
            "This voucher is already in use on {max} device{}, its limit.",
            if *max == 1 { "" } else { "s" }
        ),
        (Refusal::TooManyDevices { max }, Language::Swahili) => {
            format!("Vocha hii tayari inatumika kwenye vifaa {max}, ambacho ndicho kikomo chake.")
        }
    }
}

/// The sentence for a throttled client.
pub fn throttled(lang: Language, wait: i64) -> String {
    match lang {
        Language::English => {
            format!("Too many wrong codes. Try again in {wait} seconds.")
        }
        Language::Swahili => {
            format!("Umekosea nambari mara nyingi. Jaribu tena baada ya sekunde {wait}.")
        }
    }
}

/// Seconds as `2 h 05 min` / `4 min`.
pub fn duration(secs: u64) -> String {
    let m = secs.div_ceil(60);
    if m >= 60 {
        format!("{} h {:02} min", m / 60, m % 60)
    } else {
        format!("{m} min")
    }
}

/// Bytes as MB (one decimal under 10 MB).
pub fn megabytes(bytes: u64) -> String {
    let mb = bytes as f64 / hotspot_shared::plan::MB as f64;
    if mb < 10.0 {
        format!("{mb:.1} MB")
    } else {
        format!("{mb:.0} MB")
    }
}
