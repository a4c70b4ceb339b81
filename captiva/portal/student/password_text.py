"""The students' password pages and mail (French, English), merged into i18n.MESSAGES."""

PASSWORD: dict[str, dict[str, str]] = {
    "fr": {
        "password.menu": "Mot de passe",
        "password.title": "Changer mon mot de passe",
        "password.intro": "Votre mot de passe Wi-Fi sert au portail et à la connexion au réseau.",
        "password.current": "Mot de passe actuel",
        "password.new": "Nouveau mot de passe",
        "password.confirm": "Nouveau mot de passe (encore)",
        "password.rules": "Au moins {min_length} caractères, ni votre identifiant, ni un mot "
                          "de passe courant.",
        "password.end_sessions": "Déconnecter mes autres appareils et sessions",
        "password.submit": "Changer le mot de passe",
        "password.changed": "Mot de passe changé. Utilisez-le désormais pour vous connecter.",
        "password.changed_sessions": "Mot de passe changé. Vos autres sessions sont terminées "
                                     "({count} session(s) Wi-Fi en cours de déconnexion).",
        "password.wrong_current": "Le mot de passe actuel est incorrect.",
        "password.mismatch": "Les deux nouveaux mots de passe diffèrent.",
        "password.too_short": "Le nouveau mot de passe doit avoir au moins {min_length} "
                              "caractères.",
        "password.too_long": "Le nouveau mot de passe doit avoir au plus 128 caractères.",
        "password.is_username": "Le nouveau mot de passe ne doit pas contenir votre "
                                "identifiant.",
        "password.common": "Ce mot de passe est trop courant ou trop facile à deviner.",
        "password.same": "Le nouveau mot de passe doit différer de l'actuel.",
        "password.bad_characters": "Le mot de passe ne doit contenir ni retour à la ligne ni "
                                   "caractère de contrôle.",
        "password.not_available": "Votre compte n'a pas de mot de passe modifiable ici "
                                  "(adressez-vous au service informatique).",
        "password.storage_hashed": "Votre nouveau mot de passe est enregistré haché "
                                   "(sha512-crypt) : personne ne peut le relire.",
        "password.storage_cleartext": "Ce campus utilise CHAP pour la connexion Wi-Fi : votre "
                                      "nouveau mot de passe est enregistré en clair dans la "
                                      "base RADIUS, lisible seulement par le serveur RADIUS "
                                      "(jamais par le portail ni le personnel). Choisissez-en "
                                      "un que vous n'utilisez nulle part ailleurs.",
        "password.admin_reset": "Si le service informatique vous donne un nouveau mot de "
                                "passe, il remplace celui que vous avez choisi ici.",
        "password.forgot_link": "Mot de passe oublié ?",
        "password.forgot_title": "Mot de passe oublié",
        "password.forgot_intro": "Indiquez votre identifiant : un lien pour choisir un "
                                 "nouveau mot de passe est envoyé à l'adresse e-mail que "
                                 "l'école a pour vous. Il est valable 30 minutes, une fois.",
        "password.forgot_submit": "Envoyer le lien",
        "password.forgot_sent": "Si ce compte existe et a une adresse e-mail, un lien vient "
                                "d'y être envoyé. Il est valable 30 minutes. Rien reçu ? "
                                "Vérifiez les indésirables, ou adressez-vous au service "
                                "informatique.",
        "password.forgot_unavailable": "L'envoi de liens n'est pas activé sur ce portail : "
                                       "adressez-vous au service informatique.",
        "password.reset_title": "Choisir un nouveau mot de passe",
        "password.reset_intro": "Vos sessions en cours seront terminées.",
        "password.reset_submit": "Enregistrer",
        "password.reset_invalid": "Ce lien n'est plus valable (déjà utilisé, ou plus de 30 "
                                  "minutes). Demandez-en un nouveau.",
        "password.reset_done": "Mot de passe enregistré. Connectez-vous avec le nouveau.",
        "password.throttled": "Trop de tentatives. Réessayez dans {minutes} min.",
        "password.unavailable": "Service momentanément indisponible. Réessayez dans une "
                                "minute.",
        "password.back": "Retour",
    },
    "en": {
        "password.menu": "Password",
        "password.title": "Change my password",
        "password.intro": "Your Wi-Fi password is the one for this portal and for the network.",
        "password.current": "Current password",
        "password.new": "New password",
        "password.confirm": "New password (again)",
        "password.rules": "At least {min_length} characters, not your username, not a common "
                          "password.",
        "password.end_sessions": "Sign out my other devices and sessions",
        "password.submit": "Change password",
        "password.changed": "Password changed. Use it from now on to sign in.",
        "password.changed_sessions": "Password changed. Your other sessions are ended "
                                     "({count} Wi-Fi session(s) being disconnected).",
        "password.wrong_current": "The current password is wrong.",
        "password.mismatch": "The two new passwords differ.",
        "password.too_short": "The new password must have at least {min_length} characters.",
        "password.too_long": "The new password must have at most 128 characters.",
        "password.is_username": "The new password must not contain your username.",
        "password.common": "This password is too common or too easy to guess.",
        "password.same": "The new password must differ from the current one.",
        "password.bad_characters": "The password must contain no line break or control "
                                   "character.",
        "password.not_available": "Your account has no password that can be changed here "
                                  "(ask the IT service).",
        "password.storage_hashed": "Your new password is stored hashed (sha512-crypt): nobody "
                                   "can read it back.",
        "password.storage_cleartext": "This campus uses CHAP for Wi-Fi logins: your new "
                                      "password is stored in cleartext in the RADIUS "
                                      "database, readable only by the RADIUS server (never by "
                                      "the portal or staff). Choose one you use nowhere else.",
        "password.admin_reset": "If the IT service gives you a new password, it replaces the "
                                "one you chose here.",
        "password.forgot_link": "Forgot your password?",
        "password.forgot_title": "Forgotten password",
        "password.forgot_intro": "Enter your username: a link to choose a new password is "
                                 "sent to the e-mail address the school has for you. It works "
                                 "once, for 30 minutes.",
        "password.forgot_submit": "Send the link",
        "password.forgot_sent": "If this account exists and has an e-mail address, a link "
                                "has just been sent to it. It is valid for 30 minutes. "
                                "Nothing came? Check your spam folder, or ask the IT service.",
        "password.forgot_unavailable": "This portal does not send reset links: ask the IT "
                                       "service.",
        "password.reset_title": "Choose a new password",
        "password.reset_intro": "Your open sessions will be ended.",
        "password.reset_submit": "Save",
        "password.reset_invalid": "This link no longer works (already used, or older than 30 "
                                  "minutes). Ask for a new one.",
        "password.reset_done": "Password saved. Sign in with the new one.",
        "password.throttled": "Too many attempts. Try again in {minutes} min.",
        "password.unavailable": "Temporarily unavailable. Try again in a minute.",
        "password.back": "Back",
    },
}

# The forgotten-password mail (string.Template: $first_name, $url, $minutes, $site_name).
RESET_MAIL = {
    "fr": """\
Subject: Wi-Fi : choisir un nouveau mot de passe

Bonjour $first_name,

Quelqu'un (vous, sans doute) a demandé à changer le mot de passe Wi-Fi de votre compte
sur $site_name. Pour en choisir un nouveau, ouvrez ce lien dans les $minutes minutes :

$url

Le lien ne sert qu'une fois. Si vous n'avez rien demandé, ignorez ce message : votre mot de
passe actuel reste valable.
--
Captiva, Wi-Fi du campus
""",
    "en": """\
Subject: Wi-Fi: choose a new password

Hello $first_name,

Someone (you, most likely) asked to change the Wi-Fi password of your account on
$site_name. To choose a new one, open this link within $minutes minutes:

$url

The link works once. If you asked for nothing, ignore this message: your current password
still works.
--
Captiva, campus Wi-Fi
""",
}
