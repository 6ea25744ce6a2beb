import type { MouseEvent } from 'react';

interface AccountLinkProps {
  account: string;
  href: string;
  onOpen: () => void;
}

/** The account name as a link to its detail page; a plain click stays in the page. */
export function AccountLink({ account, href, onOpen }: AccountLinkProps) {
  const onClick = (event: MouseEvent<HTMLAnchorElement>) => {
    event.stopPropagation();
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
      return;
    }
    event.preventDefault();
    onOpen();
  };

  return (
    <a className="account-link" href={href} onClick={onClick}>
      {account}
    </a>
  );
}
