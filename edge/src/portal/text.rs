//! Every sentence the portal shows, in English and Kiswahili.

use crate::config::Language;
use hotspot_shared::purchase::PaymentFailure;

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
    pub or_voucher: &'static str,
    pub buy_title: &'static str,
    pub buy_more: &'static str,
    pub phone_label: &'static str,
    pub pay: &'static str,
    pub check_again: &'static str,
    pub retry: &'static str,
    pub unknown_package: &'static str,
    pub payments_unavailable: &'static str,
    pub payments_unreachable: &'static str,
    pub phone_empty: &'static str,
    pub phone_invalid: &'static str,
    pub paid_connecting: &'static str,
    pub paid_topped_up: &'static str,
    pub user_title: &'static str,
    pub user_label: &'static str,
    pub password_label: &'static str,
    pub sign_in: &'static str,
    pub radius_rejected: &'static str,
    pub radius_unavailable: &'static str,
    pub top_up_title: &'static str,
    pub top_up: &'static str,
    pub topped_up: &'static str,
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
    or_voucher: "Have a voucher? Type its code.",
    buy_title: "Buy with M-Pesa",
    buy_more: "Or buy more with M-Pesa",
    phone_label: "M-Pesa phone number",
    pay: "Pay with M-Pesa",
    check_again: "Check again",
    retry: "Try again",
    unknown_package: "This package is no longer for sale. Choose another one.",
    payments_unavailable: "Paying with M-Pesa is not available at this hotspot. Use a voucher.",
    payments_unreachable: "The payment service cannot be reached right now. Nothing was charged. Try again in a minute, or use a voucher.",
    phone_empty: "Enter your M-Pesa phone number.",
    phone_invalid: "Enter a Kenyan mobile number such as 0712 345 678.",
    paid_connecting: "Payment received. Connecting you now…",
    paid_topped_up: "Payment received: your time and data were extended.",
    user_title: "Have an account? Sign in.",
    user_label: "Username",
    password_label: "Password",
    sign_in: "Sign in",
    radius_rejected: "The login server refused this username, password or code.",
    radius_unavailable: "The login server cannot be reached right now. Vouchers of this hotspot still work; try your account again in a few minutes.",
    top_up_title: "Need more? Add another voucher.",
    top_up: "Add",
    topped_up: "Voucher added: your time and data were extended.",
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
    or_voucher: "Una vocha? Andika nambari yake.",
    buy_title: "Nunua kwa M-Pesa",
    buy_more: "Au nunua zaidi kwa M-Pesa",
    phone_label: "Nambari ya simu ya M-Pesa",
    pay: "Lipa kwa M-Pesa",
    check_again: "Angalia tena",
    retry: "Jaribu tena",
    unknown_package: "Kifurushi hiki hakiuzwi tena. Chagua kingine.",
    payments_unavailable: "Malipo kwa M-Pesa hayapatikani kwenye hotspot hii. Tumia vocha.",
    payments_unreachable: "Huduma ya malipo haipatikani sasa hivi. Hakuna pesa iliyotozwa. Jaribu tena baada ya dakika moja, au tumia vocha.",
    phone_empty: "Weka nambari yako ya simu ya M-Pesa.",
    phone_invalid: "Weka nambari ya simu ya Kenya, kama 0712 345 678.",
    paid_connecting: "Malipo yamepokelewa. Tunakuunganisha sasa…",
    paid_topped_up: "Malipo yamepokelewa: muda na data yako vimeongezwa.",
    user_title: "Una akaunti? Ingia.",
    user_label: "Jina la mtumiaji",
    password_label: "Nenosiri",
    sign_in: "Ingia",
    radius_rejected: "Seva ya kuingia imekataa jina hili, nenosiri hili au nambari hii.",
    radius_unavailable: "Seva ya kuingia haipatikani kwa sasa. Vocha za hotspot hii bado zinafanya kazi; jaribu akaunti yako tena baada ya dakika chache.",
    top_up_title: "Unahitaji zaidi? Ongeza vocha nyingine.",
    top_up: "Ongeza",
    topped_up: "Vocha imeongezwa: muda na data yako vimeongezwa.",
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

/// The sentence for a payment that did not go through.
pub fn payment_failure(lang: Language, f: PaymentFailure) -> &'static str {
    use PaymentFailure as F;
    match (lang, f) {
        (Language::English, F::Cancelled) => {
            "You cancelled the M-Pesa request. Nothing was charged."
        }
        (Language::English, F::NoAnswer) => {
            "Your phone did not answer the M-Pesa request in time. Nothing was charged."
        }
        (Language::English, F::InsufficientFunds) => {
            "Your M-Pesa balance is not enough for this package. Top up or choose a smaller package."
        }
        (Language::English, F::WrongPin) => "The M-Pesa PIN was wrong. Nothing was charged.",
        (Language::English, F::SubscriberLocked) => {
            "M-Pesa cannot reach your line right now: it may be busy with another payment or \
             locked. Wait a minute and try again."
        }
        (Language::English, F::PushRejected) => {
            "M-Pesa did not send the request to this number. Check the number and try again."
        }
        (Language::English, F::Unavailable) => {
            "The payment service cannot be reached right now. Nothing was charged."
        }
        (Language::English, F::Other) => "The payment did not go through. Nothing was charged.",
        (Language::Swahili, F::Cancelled) => "Umesitisha ombi la M-Pesa. Hakuna pesa iliyotozwa.",
        (Language::Swahili, F::NoAnswer) => {
            "Simu yako haikujibu ombi la M-Pesa kwa wakati. Hakuna pesa iliyotozwa."
        }
        (Language::Swahili, F::InsufficientFunds) => {
            "Salio lako la M-Pesa halitoshi kwa kifurushi hiki. Ongeza salio au chagua kifurushi kidogo."
        }
        (Language::Swahili, F::WrongPin) => "PIN ya M-Pesa haikuwa sahihi. Hakuna pesa iliyotozwa.",
        (Language::Swahili, F::SubscriberLocked) => {
            "M-Pesa haiwezi kufikia laini yako sasa hivi: huenda ina malipo mengine au \
             imefungwa. Subiri dakika moja kisha ujaribu tena."
        }
        (Language::Swahili, F::PushRejected) => {
            "M-Pesa haikutuma ombi kwa nambari hii. Hakikisha nambari kisha ujaribu tena."
        }
        (Language::Swahili, F::Unavailable) => {
            "Huduma ya malipo haipatikani sasa hivi. Hakuna pesa iliyotozwa."
        }
        (Language::Swahili, F::Other) => "Malipo hayakukamilika. Hakuna pesa iliyotozwa.",
    }
}

/// "Check your phone" while a push waits for the guest's PIN.
pub fn check_phone(lang: Language, amount_kes: u64, phone_hint: &str) -> String {
    match lang {
        Language::English => format!(
            "Check your phone ({phone_hint}): enter your M-Pesa PIN to pay KES {amount_kes}. \
             This page updates by itself."
        ),
        Language::Swahili => format!(
            "Angalia simu yako ({phone_hint}): weka PIN yako ya M-Pesa kulipa KES {amount_kes}. \
             Ukurasa huu utajisasisha wenyewe."
        ),
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
