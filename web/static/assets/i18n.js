// The widget's strings in English, French, German and Spanish. The language
// comes from the script tag (data-lang), else the host page's, else the
// browser's; English where none of these is known. {name} in a string is
// filled by SIG_I18N.t(key, {name: …}).
(function () {
  "use strict";
  var strings = {
    en: {
      title: "Chat with us", greeting: "Hi! How can we help?", messages: "Conversation",
      message: "Message", placeholder: "Type a message", send: "Send", minimise: "Minimise chat",
      end: "End chat", newChat: "Start a new chat", connecting: "Connecting…", reconnecting: "Reconnecting…",
      online: "We usually answer within minutes", waiting: "Waiting for an agent…",
      place: "You are number {n} in the queue", next: "You are next in the queue",
      chattingWith: "You are chatting with {name}", joined: "{name} joined the chat", left: "{name} left the chat",
      ended: "The chat has ended", endedStatus: "Chat ended", typing: "{name} is typing…", agent: "Agent", you: "You",
      sending: "Sending…", delivered: "Delivered", failed: "Not delivered",
      undelivered: "Your message could not be delivered. Nothing was sent.",
      offline: "No agent is available right now", closedHours: "We are outside our opening hours.",
      nobody: "Nobody can answer at the moment.", leave: "Leave a message and we will answer here when we are back.",
      leavePlaceholder: "Leave a message", error: "Something went wrong: {message}",
      sfNote: "Only the payment service sees what you type here. The agent does not, and it is not kept in the chat.",
      sfSubmit: "Send securely", sfCancel: "Cancel", sfChecking: "Checking…", sfAccepted: "Accepted — transaction {id}",
      sfDeclined: "Declined — transaction {id}", sfError: "This could not be checked; the agent may try again.",
      sfCancelled: "Cancelled.", sfCorrect: "Please correct the marked fields.", sfBrand: "Card brand: {brand}",
      sfUnknownBrand: "Unknown card brand", sfFromAgent: "Filled in by the agent", sfForm: "Secure form",
      errRequired: "{field} is required.", errInvalid: "{field} is not valid.", errExpired: "{field} is in the past.",
      errTooLong: "{field} is too long.", errBrandRefused: "This card brand is not accepted here.",
      errCharset: "{field} may hold digits and spaces only.", errBrand: "This is not a card number we know.",
      errLength: "{field} has the wrong number of digits.", errLuhn: "This card number is not valid: check the digits.",
      errCode: "{field} must have {n} digits for {brand}."
    },
    fr: {
      title: "Discutons", greeting: "Bonjour ! Comment pouvons-nous vous aider ?", messages: "Conversation",
      message: "Message", placeholder: "Écrivez un message", send: "Envoyer", minimise: "Réduire la discussion",
      end: "Terminer", newChat: "Nouvelle discussion", connecting: "Connexion…", reconnecting: "Reconnexion…",
      online: "Nous répondons en général en quelques minutes", waiting: "En attente d’un conseiller…",
      place: "Vous êtes numéro {n} dans la file", next: "Vous êtes le prochain dans la file",
      chattingWith: "Vous discutez avec {name}", joined: "{name} a rejoint la discussion", left: "{name} a quitté la discussion",
      ended: "La discussion est terminée", endedStatus: "Discussion terminée", typing: "{name} écrit…", agent: "Conseiller", you: "Vous",
      sending: "Envoi…", delivered: "Distribué", failed: "Non distribué",
      undelivered: "Votre message n’a pas pu être distribué. Rien n’a été envoyé.",
      offline: "Aucun conseiller n’est disponible pour le moment", closedHours: "Nous sommes en dehors de nos heures d’ouverture.",
      nobody: "Personne ne peut répondre pour l’instant.", leave: "Laissez un message, nous vous répondrons ici dès notre retour.",
      leavePlaceholder: "Laissez un message", error: "Une erreur est survenue : {message}",
      sfNote: "Seul le service de paiement voit ce que vous saisissez ici. Pas le conseiller, et rien n’est gardé dans la discussion.",
      sfSubmit: "Envoyer en sécurité", sfCancel: "Annuler", sfChecking: "Vérification…", sfAccepted: "Accepté — transaction {id}",
      sfDeclined: "Refusé — transaction {id}", sfError: "La vérification a échoué ; le conseiller peut réessayer.",
      sfCancelled: "Annulé.", sfCorrect: "Veuillez corriger les champs signalés.", sfBrand: "Type de carte : {brand}",
      sfUnknownBrand: "Type de carte inconnu", sfFromAgent: "Rempli par le conseiller", sfForm: "Formulaire sécurisé",
      errRequired: "{field} est obligatoire.", errInvalid: "{field} n’est pas valide.", errExpired: "{field} est dépassé.",
      errTooLong: "{field} est trop long.", errBrandRefused: "Ce type de carte n’est pas accepté ici.",
      errCharset: "{field} ne peut contenir que des chiffres et des espaces.", errBrand: "Ce numéro ne correspond à aucune carte connue.",
      errLength: "{field} n’a pas le bon nombre de chiffres.", errLuhn: "Ce numéro de carte n’est pas valide : vérifiez les chiffres.",
      errCode: "{field} doit avoir {n} chiffres pour {brand}."
    },
    de: {
      title: "Chatten Sie mit uns", greeting: "Hallo! Wie können wir helfen?", messages: "Unterhaltung",
      message: "Nachricht", placeholder: "Nachricht schreiben", send: "Senden", minimise: "Chat minimieren",
      end: "Chat beenden", newChat: "Neuen Chat beginnen", connecting: "Verbinde…", reconnecting: "Verbinde erneut…",
      online: "Wir antworten meist innerhalb weniger Minuten", waiting: "Warten auf einen Mitarbeiter…",
      place: "Sie sind Nummer {n} in der Warteschlange", next: "Sie sind als Nächstes an der Reihe",
      chattingWith: "Sie chatten mit {name}", joined: "{name} ist dem Chat beigetreten", left: "{name} hat den Chat verlassen",
      ended: "Der Chat ist beendet", endedStatus: "Chat beendet", typing: "{name} schreibt…", agent: "Mitarbeiter", you: "Sie",
      sending: "Wird gesendet…", delivered: "Zugestellt", failed: "Nicht zugestellt",
      undelivered: "Ihre Nachricht konnte nicht zugestellt werden. Es wurde nichts gesendet.",
      offline: "Gerade ist kein Mitarbeiter erreichbar", closedHours: "Wir sind außerhalb unserer Öffnungszeiten.",
      nobody: "Im Moment kann niemand antworten.", leave: "Hinterlassen Sie eine Nachricht; wir antworten hier, sobald wir zurück sind.",
      leavePlaceholder: "Nachricht hinterlassen", error: "Etwas ist schiefgegangen: {message}",
      sfNote: "Nur der Zahlungsdienst sieht, was Sie hier eingeben. Der Mitarbeiter nicht, und im Chat wird nichts gespeichert.",
      sfSubmit: "Sicher senden", sfCancel: "Abbrechen", sfChecking: "Wird geprüft…", sfAccepted: "Angenommen — Transaktion {id}",
      sfDeclined: "Abgelehnt — Transaktion {id}", sfError: "Die Prüfung ist fehlgeschlagen; der Mitarbeiter kann es erneut versuchen.",
      sfCancelled: "Abgebrochen.", sfCorrect: "Bitte korrigieren Sie die markierten Felder.", sfBrand: "Kartentyp: {brand}",
      sfUnknownBrand: "Unbekannter Kartentyp", sfFromAgent: "Vom Mitarbeiter ausgefüllt", sfForm: "Sicheres Formular",
      errRequired: "{field} ist erforderlich.", errInvalid: "{field} ist ungültig.", errExpired: "{field} liegt in der Vergangenheit.",
      errTooLong: "{field} ist zu lang.", errBrandRefused: "Dieser Kartentyp wird hier nicht angenommen.",
      errCharset: "{field} darf nur Ziffern und Leerzeichen enthalten.", errBrand: "Diese Kartennummer kennen wir nicht.",
      errLength: "{field} hat die falsche Anzahl Ziffern.", errLuhn: "Diese Kartennummer ist ungültig: bitte prüfen Sie die Ziffern.",
      errCode: "{field} muss für {brand} {n} Ziffern haben."
    },
    es: {
      title: "Chatea con nosotros", greeting: "¡Hola! ¿En qué podemos ayudarte?", messages: "Conversación",
      message: "Mensaje", placeholder: "Escribe un mensaje", send: "Enviar", minimise: "Minimizar el chat",
      end: "Terminar el chat", newChat: "Empezar otro chat", connecting: "Conectando…", reconnecting: "Reconectando…",
      online: "Solemos responder en pocos minutos", waiting: "Esperando a un agente…",
      place: "Eres el número {n} en la cola", next: "Eres el siguiente en la cola",
      chattingWith: "Estás hablando con {name}", joined: "{name} se ha unido al chat", left: "{name} ha salido del chat",
      ended: "El chat ha terminado", endedStatus: "Chat terminado", typing: "{name} está escribiendo…", agent: "Agente", you: "Tú",
      sending: "Enviando…", delivered: "Entregado", failed: "No entregado",
      undelivered: "Tu mensaje no se pudo entregar. No se envió nada.",
      offline: "Ahora mismo no hay ningún agente disponible", closedHours: "Estamos fuera de nuestro horario de atención.",
      nobody: "En este momento nadie puede responder.", leave: "Déjanos un mensaje y te responderemos aquí cuando volvamos.",
      leavePlaceholder: "Deja un mensaje", error: "Algo ha fallado: {message}",
      sfNote: "Solo el servicio de pago ve lo que escribes aquí. El agente no, y no se guarda en el chat.",
      sfSubmit: "Enviar de forma segura", sfCancel: "Cancelar", sfChecking: "Comprobando…", sfAccepted: "Aceptado — transacción {id}",
      sfDeclined: "Rechazado — transacción {id}", sfError: "No se pudo comprobar; el agente puede intentarlo de nuevo.",
      sfCancelled: "Cancelado.", sfCorrect: "Corrige los campos marcados.", sfBrand: "Tipo de tarjeta: {brand}",
      sfUnknownBrand: "Tipo de tarjeta desconocido", sfFromAgent: "Rellenado por el agente", sfForm: "Formulario seguro",
      errRequired: "{field} es obligatorio.", errInvalid: "{field} no es válido.", errExpired: "{field} ya ha pasado.",
      errTooLong: "{field} es demasiado largo.", errBrandRefused: "Este tipo de tarjeta no se acepta aquí.",
      errCharset: "{field} solo puede tener dígitos y espacios.", errBrand: "No conocemos este número de tarjeta.",
      errLength: "{field} no tiene el número correcto de dígitos.", errLuhn: "Este número de tarjeta no es válido: revisa los dígitos.",
      errCode: "{field} debe tener {n} dígitos para {brand}."
    }
  };

  // pick returns the first supported language of the candidates ("fr-CA" is fr).
  function pick(candidates) {
    for (var i = 0; i < candidates.length; i++) {
      var c = String(candidates[i] || "").toLowerCase().slice(0, 2);
      if (strings[c]) return c;
    }
    return "en";
  }

  var lang = "en";
  window.SIG_I18N = {
    languages: Object.keys(strings),
    use: function (candidates) { lang = pick(candidates); return lang; },
    lang: function () { return lang; },
    t: function (key, vars) {
      var s = (strings[lang] && strings[lang][key]) || strings.en[key] || key;
      return s.replace(/\{(\w+)\}/g, function (_, k) { return vars && vars[k] !== undefined ? String(vars[k]) : ""; });
    },
    strings: strings
  };
})();
