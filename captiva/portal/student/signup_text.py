"""The public sign-up, its status page and the mails of the sign-up and of the console's
review (French, English), merged into i18n.MESSAGES; the review page's strings are the
console's (console/text.py)."""

SIGNUP: dict[str, dict[str, str]] = {
    "fr": {
        "signup.link": "Pas encore de compte ? Demander un compte",
        "signup.title": "Demander un compte Wi-Fi",
        "signup.intro": "Votre demande est vérifiée par e-mail puis examinée par le service "
                        "informatique. Le compte est créé à la prochaine mise à jour de la "
                        "liste des utilisateurs.",
        "signup.matricule": "Matricule",
        "signup.first_name": "Prénom",
        "signup.last_name": "Nom",
        "signup.email": "Adresse e-mail",
        "signup.promotion": "Promotion",
        "signup.password": "Mot de passe",
        "signup.confirm": "Mot de passe (encore)",
        "signup.submit": "Envoyer la demande",
        "signup.sent": "Demande reçue. Si elle peut être traitée, un e-mail vient d'être "
                       "envoyé à l'adresse indiquée : suivez son lien dans les 24 heures pour "
                       "confirmer l'adresse. Rien reçu ? Vérifiez les indésirables.",
        "signup.bad_matricule": "Matricule invalide (lettres, chiffres, . _ -).",
        "signup.bad_name": "Indiquez votre prénom et votre nom.",
        "signup.bad_email": "Adresse e-mail invalide.",
        "signup.bad_promotion": "Choisissez une promotion.",
        "signup.closed": "Les demandes de compte ne sont pas ouvertes sur ce portail : "
                         "adressez-vous au service informatique.",
        "signup.throttled": "Trop de demandes depuis cette adresse. Réessayez dans {minutes} "
                            "min.",
        "signup.unavailable": "Service momentanément indisponible. Réessayez dans une minute.",
        "signup.status_title": "Ma demande de compte",
        "signup.status_link_invalid": "Ce lien n'est pas valable.",
        "signup.state.unverified": "En attente de la confirmation de votre adresse e-mail.",
        "signup.state.expired": "Expirée : l'adresse e-mail n'a pas été confirmée dans les 24 "
                                "heures. Faites une nouvelle demande.",
        "signup.state.pending": "Adresse confirmée. Votre demande attend l'examen du service "
                                "informatique.",
        "signup.state.approved": "Approuvée. Votre compte sera actif à la prochaine mise à "
                                 "jour de la liste des utilisateurs ; vous recevrez la "
                                 "confirmation ici.",
        "signup.state.imported": "Votre compte existe : connectez-vous avec votre matricule "
                                 "et le mot de passe choisi.",
        "signup.state.rejected": "Refusée. Motif : {reason}",
        "signup.verified": "Adresse e-mail confirmée.",
        "signup.confirm_button": "Confirmer mon adresse e-mail",
        "signup.bookmark": "Gardez ce lien pour suivre votre demande (il est aussi dans "
                           "l'e-mail).",
    },
    "en": {
        "signup.link": "No account yet? Ask for one",
        "signup.title": "Ask for a Wi-Fi account",
        "signup.intro": "Your request is checked by e-mail, then reviewed by the IT service. "
                        "The account is created at the next update of the users list.",
        "signup.matricule": "Student number (matricule)",
        "signup.first_name": "First name",
        "signup.last_name": "Last name",
        "signup.email": "E-mail address",
        "signup.promotion": "Promotion",
        "signup.password": "Password",
        "signup.confirm": "Password (again)",
        "signup.submit": "Send the request",
        "signup.sent": "Request received. If it can be handled, an e-mail has just been sent "
                       "to the address given: follow its link within 24 hours to confirm the "
                       "address. Nothing came? Check your spam folder.",
        "signup.bad_matricule": "Invalid student number (letters, digits, . _ -).",
        "signup.bad_name": "Give your first and last names.",
        "signup.bad_email": "Invalid e-mail address.",
        "signup.bad_promotion": "Choose a promotion.",
        "signup.closed": "This portal does not take account requests: ask the IT service.",
        "signup.throttled": "Too many requests from this address. Try again in {minutes} "
                            "min.",
        "signup.unavailable": "Temporarily unavailable. Try again in a minute.",
        "signup.status_title": "My account request",
        "signup.status_link_invalid": "This link is not valid.",
        "signup.state.unverified": "Waiting for the confirmation of your e-mail address.",
        "signup.state.expired": "Expired: the e-mail address was not confirmed within 24 "
                                "hours. Make a new request.",
        "signup.state.pending": "Address confirmed. Your request waits for the IT service's "
                                "review.",
        "signup.state.approved": "Approved. Your account will be active at the next update of "
                                 "the users list; this page will say so.",
        "signup.state.imported": "Your account exists: sign in with your student number and "
                                 "the password you chose.",
        "signup.state.rejected": "Rejected. Reason: {reason}",
        "signup.verified": "E-mail address confirmed.",
        "signup.confirm_button": "Confirm my e-mail address",
        "signup.bookmark": "Keep this link to follow your request (it is in the e-mail too).",
    },
}

# The mail of a request that records nothing, in each language: {why} is the reason, then what
# to do, as NOT_RECORDED_WHY gives it for each kind.
NOT_RECORDED = {
    "fr": """\
Subject: Wi-Fi : demande de compte

Bonjour $first_name,

Une demande de compte Wi-Fi pour le matricule $matricule a été faite sur $site_name avec
cette adresse, mais {why}
--
Captiva, Wi-Fi du campus
""",
    "en": """\
Subject: Wi-Fi: account request

Hello $first_name,

A Wi-Fi account was requested for student number $matricule on $site_name with this
address, but {why}
--
Captiva, campus Wi-Fi
""",
}
NOT_RECORDED_WHY = {
    "exists": {
        "fr": """\
ce matricule a déjà un compte ou une demande en cours : aucune nouvelle
demande n'est enregistrée. Mot de passe oublié ? Utilisez « Mot de passe oublié » sur la
page de connexion, ou adressez-vous au service informatique.""",
        "en": """\
this number already has an account or a request under way: no new request was
recorded. Forgot your password? Use "Forgot your password?" on the sign-in page, or ask the
IT service.""",
    },
    "not-listed": {
        "fr": """\
ce matricule n'est pas sur la liste de la scolarité : aucune demande
n'est enregistrée. Vérifiez le matricule, ou adressez-vous à la scolarité.""",
        "en": """\
this number is not on the registrar's list: no request was recorded. Check
the number, or ask the registrar's office.""",
    },
}


def _not_recorded(kind: str) -> dict[str, str]:
    return {language: text.format(why=NOT_RECORDED_WHY[kind][language])
            for language, text in NOT_RECORDED.items()}

# Mails (string.Template: $first_name, $matricule, $site_name, $verify_url, $status_url,
# $reason). The subject is the first line.
MAILS = {
    "verify": {
        "fr": """\
Subject: Wi-Fi : confirmez votre adresse e-mail

Bonjour $first_name,

Une demande de compte Wi-Fi pour le matricule $matricule a été faite sur $site_name avec
cette adresse. Pour la confirmer, ouvrez ce lien dans les 24 heures :

$verify_url

Suivez ensuite votre demande ici :

$status_url

Si vous n'avez rien demandé, ignorez ce message.
--
Captiva, Wi-Fi du campus
""",
        "en": """\
Subject: Wi-Fi: confirm your e-mail address

Hello $first_name,

A Wi-Fi account was requested for student number $matricule on $site_name with this
address. To confirm it, open this link within 24 hours:

$verify_url

Then follow your request here:

$status_url

If you asked for nothing, ignore this message.
--
Captiva, campus Wi-Fi
""",
    },
    "exists": _not_recorded("exists"),
    "not-listed": _not_recorded("not-listed"),
    "approved": {
        "fr": """\
Subject: Wi-Fi : demande de compte approuvée

Bonjour $first_name,

Votre demande de compte Wi-Fi (matricule $matricule) est approuvée. Le compte sera actif à
la prochaine mise à jour de la liste des utilisateurs ; suivez-la ici :

$status_url

Vous vous connecterez avec votre matricule et le mot de passe choisi.
--
Captiva, Wi-Fi du campus
""",
        "en": """\
Subject: Wi-Fi: account request approved

Hello $first_name,

Your Wi-Fi account request (student number $matricule) is approved. The account will be
active at the next update of the users list; follow it here:

$status_url

You will sign in with your student number and the password you chose.
--
Captiva, campus Wi-Fi
""",
    },
    "rejected": {
        "fr": """\
Subject: Wi-Fi : demande de compte refusée

Bonjour $first_name,

Votre demande de compte Wi-Fi (matricule $matricule) est refusée. Motif :

$reason

Votre demande : $status_url

Pour toute question, adressez-vous au service informatique.
--
Captiva, Wi-Fi du campus
""",
        "en": """\
Subject: Wi-Fi: account request rejected

Hello $first_name,

Your Wi-Fi account request (student number $matricule) is rejected. Reason:

$reason

Your request: $status_url

For any question, ask the IT service.
--
Captiva, campus Wi-Fi
""",
    },
}

